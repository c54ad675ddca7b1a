// The CA certificate (node-forge, whose ASN.1 API also encodes its name
// constraints). Modelled on mkcert's cert.go; comments say why a field is
// what it is. Leaf certificates are built in leaf.ts.
import { randomSerial } from './serial.js';
import forge from 'node-forge';
import { encodeNameConstraints, NAME_CONSTRAINTS_OID, type NameConstraints } from './nameConstraints.js';
import type { RsaKey } from './keys.js';
import { BACKDATE_MS, DAY_MS } from './validity.js';

export interface Issuer {
  cert: forge.pki.Certificate;
  key: RsaKey;
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

// LF: node-forge writes CRLF, which ConfigMaps and shell heredocs carry along as \r.
export const certToPem = (cert: forge.pki.Certificate): string => forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n');
