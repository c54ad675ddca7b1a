// Certificate construction: pure functions from keys and options to PEM.
// Modelled on mkcert's cert.go; comments say why a field is what it is.
import { randomBytes } from 'node:crypto';
import forge from 'node-forge';
import type { Host } from './hosts.js';
import { encodeNameConstraints, NAME_CONSTRAINTS_OID, type NameConstraints } from './nameConstraints.js';
import type { RsaKey } from './keys.js';

const DAY_MS = 24 * 60 * 60 * 1000;
// Backdated so that a node whose clock runs a little slow still accepts a
// certificate issued a moment ago.
const BACKDATE_MS = 5 * 60 * 1000;

export interface Issuer {
  cert: forge.pki.Certificate;
  key: RsaKey;
}

/**
 * A random positive 128-bit serial, DER-minimal: RFC 5280 wants serials unique
 * per CA and positive; random ones also avoid collisions between CAs re-created
 * on the same machine.
 */
export function randomSerial(): string {
  let bytes = randomBytes(16);
  while (bytes[0] === 0) bytes = randomBytes(16);
  const hex = bytes.toString('hex');
  return (bytes[0]! & 0x80 ? '00' : '') + hex;
}

// UTF8String, as RFC 5280 asks: node-forge defaults to PrintableString, which
// cannot hold '@' or ':', and Go's strict parser then refuses the certificate.
function names(fields: [string, string][]): forge.pki.CertificateField[] {
  return fields.map(([name, value]) => ({ name, value, valueTagClass: forge.asn1.Type.UTF8 as unknown as forge.asn1.Class }));
}

function validity(cert: forge.pki.Certificate, now: Date, days: number): void {
  cert.validity.notBefore = new Date(now.getTime() - BACKDATE_MS);
  cert.validity.notAfter = new Date(now.getTime() + days * DAY_MS);
}

function altNames(hosts: readonly Host[]): object[] {
  return hosts.map((h) => (h.kind === 'dns' ? { type: 2, value: h.name } : { type: 7, ip: h.address }));
}

// The CA's own subject key identifier, read from its extension when present
// (a CA made elsewhere may hash its key differently) and computed otherwise.
function subjectKeyId(cert: forge.pki.Certificate): string {
  const ext = cert.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | undefined;
  return ext?.subjectKeyIdentifier
    ? forge.util.hexToBytes(ext.subjectKeyIdentifier)
    : cert.generateSubjectKeyIdentifier().getBytes();
}

export interface CaOptions {
  days: number;
  now: Date;
  /** Who made it, e.g. "root@build-host": shown in every trust store that lists it. */
  creator: string;
  nameConstraints?: NameConstraints;
}

export function buildCa(key: RsaKey, opts: CaOptions): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = key.publicKey;
  cert.serialNumber = randomSerial();
  validity(cert, opts.now, opts.days);
  const subject = names([
    ['organizationName', 'registry-gateway'],
    ['organizationalUnitName', opts.creator],
    // A CN that names the maker and the moment: CAs re-created on one machine
    // stay distinguishable in trust stores.
    ['commonName', `registry-gateway CA ${opts.creator} ${opts.now.toISOString().slice(0, 19)}Z`],
  ]);
  cert.setSubject(subject);
  cert.setIssuer(subject);
  const extensions: object[] = [
    // pathlen:0: this CA signs leaf certificates only, never another CA, so a
    // leaked leaf key can never become a signer.
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ];
  if (opts.nameConstraints) {
    // Critical, as RFC 5280 requires: a client that cannot enforce the
    // constraints must refuse the CA rather than trust it without limits.
    extensions.push({ id: NAME_CONSTRAINTS_OID, critical: true, value: encodeNameConstraints(opts.nameConstraints) });
  }
  cert.setExtensions(extensions);
  cert.sign(key.forge, forge.md.sha256.create());
  return cert;
}

export interface LeafOptions {
  usage: 'server' | 'client';
  hosts: readonly Host[];
  days: number;
  now: Date;
  creator: string;
  /** Client certificates carry their identity here; server certificates rely on SANs only. */
  commonName?: string;
}

export function buildLeaf(key: RsaKey, issuer: Issuer, opts: LeafOptions): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = key.publicKey;
  cert.serialNumber = randomSerial();
  validity(cert, opts.now, opts.days);
  // Clients match SANs only (Go stopped reading the CN in 1.15); the CN is a
  // label for people reading `openssl x509`.
  const subject = names([
    ['organizationName', opts.usage === 'server' ? 'registry-gateway server' : 'registry-gateway client'],
    ['organizationalUnitName', opts.creator],
    ...(opts.commonName ? [['commonName', opts.commonName] as [string, string]] : []),
  ]);
  cert.setSubject(subject);
  cert.setIssuer(issuer.cert.subject.attributes);
  const extensions: object[] = [
    { name: 'basicConstraints', cA: false, critical: true },
    // keyEncipherment: TLS 1.2 RSA key exchange, still offered by old clients.
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    opts.usage === 'server' ? { name: 'extKeyUsage', serverAuth: true } : { name: 'extKeyUsage', clientAuth: true },
    { name: 'subjectKeyIdentifier' },
    // node-forge's keyIdentifier:true would hash this certificate's own key;
    // path building needs the issuer's subject key identifier here.
    { name: 'authorityKeyIdentifier', keyIdentifier: subjectKeyId(issuer.cert) },
  ];
  if (opts.hosts.length > 0) extensions.push({ name: 'subjectAltName', altNames: altNames(opts.hosts) });
  cert.setExtensions(extensions);
  cert.sign(issuer.key.forge, forge.md.sha256.create());
  return cert;
}

export const certToPem = (cert: forge.pki.Certificate): string => forge.pki.certificateToPem(cert);
