// Leaf certificates (server, client, token signer) signed by the gateway CA.
// @peculiar/x509 builds them because node-forge can only put an RSA key in a
// certificate, and an ECDSA P-256 server key makes a full TLS handshake
// several times cheaper for the gateway than RSA 2048 (bench/README.md).
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createPrivateKey, webcrypto, type KeyObject } from 'node:crypto';
import type { Host } from './hosts.js';
import { randomSerial } from './serial.js';
import { BACKDATE_MS, DAY_MS } from './validity.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export interface LeafIssuer {
  certPem: string;
  /** The CA's RSA private key, PEM. */
  keyPem: string;
}

export interface LeafSpec {
  usage: 'server' | 'client' | 'token-signing';
  hosts: readonly Host[];
  now: Date;
  /** Valid until now + days, or until `notAfter` when given (the token signer lives as long as the CA). */
  days?: number;
  notAfter?: Date;
  /** Subject attributes, in order: [type, value], e.g. ['O', 'registry-gateway server']. */
  subject: [string, string][];
}

const importPublic = (key: KeyObject): Promise<CryptoKey> => {
  const spki = key.export({ type: 'spki', format: 'der' });
  const algorithm = key.asymmetricKeyType === 'ec'
    ? { name: 'ECDSA', namedCurve: 'P-256' }
    : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  return webcrypto.subtle.importKey('spki', spki, algorithm, true, ['verify']) as Promise<CryptoKey>;
};

function usageExtensions(spec: LeafSpec, ec: boolean): x509.Extension[] {
  // keyEncipherment only for RSA: TLS 1.2 RSA key exchange, still offered by
  // old clients; an EC key cannot encipher, and strict clients refuse the bit.
  const serverOrClient = ec
    ? x509.KeyUsageFlags.digitalSignature
    : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment;
  if (spec.usage === 'token-signing') {
    // No extKeyUsage (Go then accepts any use) and no names, so the CA's name
    // constraints have nothing to refuse.
    return [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)];
  }
  const extensions: x509.Extension[] = [
    new x509.KeyUsagesExtension(serverOrClient, true),
    new x509.ExtendedKeyUsageExtension([spec.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
  ];
  if (spec.hosts.length > 0) {
    extensions.push(new x509.SubjectAlternativeNameExtension(spec.hosts.map((h) => (h.kind === 'dns'
      ? { type: 'dns' as const, value: h.name }
      : { type: 'ip' as const, value: h.address }))));
  }
  return extensions;
}

/** A certificate (PEM) for `publicKey` (RSA or ECDSA P-256), signed by the CA. */
export async function buildLeaf(publicKey: KeyObject, issuer: LeafIssuer, spec: LeafSpec): Promise<string> {
  const caCert = new x509.X509Certificate(issuer.certPem);
  const caDer = createPrivateKey(issuer.keyPem).export({ type: 'pkcs8', format: 'der' });
  const caKey = await webcrypto.subtle.importKey('pkcs8', caDer, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']);
  const pub = await importPublic(publicKey);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    // The CA's subject as its exact DER: Go finds a parent by byte-equal
    // names, and re-encoding it from a string may change the string types.
    issuer: new x509.Name(caCert.subjectName.toArrayBuffer()),
    // UTF8String, as RFC 5280 asks: a PrintableString cannot hold '@' or ':'.
    subject: new x509.Name(spec.subject.map(([type, value]) => ({ [type]: [{ utf8String: value }] }))),
    notBefore: new Date(spec.now.getTime() - BACKDATE_MS),
    notAfter: spec.notAfter ?? new Date(spec.now.getTime() + (spec.days ?? 0) * DAY_MS),
    signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    publicKey: pub,
    signingKey: caKey as CryptoKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      ...usageExtensions(spec, publicKey.asymmetricKeyType === 'ec'),
      await x509.SubjectKeyIdentifierExtension.create(pub),
      // The CA's subject key identifier (read from its extension): path
      // building matches it against this.
      await x509.AuthorityKeyIdentifierExtension.create(caCert, false),
    ],
  });
  return cert.toString('pem');
}
