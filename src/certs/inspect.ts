// What `certs show` reports about a certificate, and the checks that decide
// its exit code. Works from Node's X509Certificate, so any key type is read.
import { X509Certificate } from 'node:crypto';
import { subjectAltNames, extensionValue, type SubjectAltName } from './der.js';
import { decodeNameConstraints, describeConstraint, NAME_CONSTRAINTS_OID, permits, type NameConstraints } from './nameConstraints.js';
import { daysLeft } from './validity.js';

export { daysLeft };

export const EXPIRY_WARNING_DAYS = 30;

const EKU_NAMES: Record<string, string> = {
  '1.3.6.1.5.5.7.3.1': 'serverAuth',
  '1.3.6.1.5.5.7.3.2': 'clientAuth',
};

export interface CertReport {
  file: string;
  subject: string;
  issuer: string;
  serial: string;
  isCa: boolean;
  sans: string[];
  extKeyUsage: string[];
  notBefore: string;
  notAfter: string;
  daysLeft: number;
  sha256: string;
  keyType: string;
  nameConstraints?: { permitted: string[]; excluded: string[] };
  warnings: string[];
  problems: string[];
}

function describeSan(san: SubjectAltName): string {
  if (san.kind === 'dns') return `DNS:${san.name}`;
  if (san.kind === 'ip') return `IP:${san.address}`;
  return `GeneralName[${san.tag}]`;
}

function keyType(cert: X509Certificate): string {
  const key = cert.publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') return `RSA ${details.modulusLength ?? '?'}`;
  if (key.asymmetricKeyType === 'ec') return `ECDSA ${details.namedCurve ?? '?'}`;
  return key.asymmetricKeyType ?? 'unknown';
}

export function readNameConstraints(cert: X509Certificate): NameConstraints | undefined {
  const value = extensionValue(cert.raw, NAME_CONSTRAINTS_OID);
  return value === undefined ? undefined : decodeNameConstraints(value);
}


function validityProblems(cert: X509Certificate, now: Date, label: string): string[] {
  if (now.getTime() > new Date(cert.validTo).getTime()) return [`${label} expired on ${new Date(cert.validTo).toISOString()}`];
  if (now.getTime() < new Date(cert.validFrom).getTime()) {
    return [`${label} is not valid before ${new Date(cert.validFrom).toISOString()} (check this machine's clock)`];
  }
  return [];
}

/** Problems with a leaf as seen from the CA: not signed by it, or outside its constraints. */
function chainProblems(cert: X509Certificate, ca: X509Certificate, nc: NameConstraints | undefined): string[] {
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) {
    return ['does not chain to ca.crt: it was signed by another CA; re-issue it with this CA'];
  }
  return subjectAltNames(cert.raw)
    .filter((san) => san.kind !== 'other' && !permits(nc, san.kind === 'dns'
      ? { kind: 'dns', name: san.name }
      : { kind: 'ip', address: san.address, version: san.address.includes(':') ? 6 : 4 }))
    .map((san) => `${describeSan(san)} is outside the CA's name constraints: clients will reject this certificate`);
}

export function inspectCertificate(file: string, cert: X509Certificate, ca: X509Certificate | undefined, now: Date): CertReport {
  const nc = readNameConstraints(cert);
  const left = daysLeft(cert, now);
  const problems = validityProblems(cert, now, file);
  const warnings: string[] = [];
  if (problems.length === 0 && left < EXPIRY_WARNING_DAYS) {
    warnings.push(cert.ca
      ? `${file} expires in ${left} day(s): create a new CA with 'gateway certs init --force --new-ca' and re-bundle every node`
      : `${file} expires in ${left} day(s): run 'gateway certs renew'`);
  }
  if (ca && !cert.ca) problems.push(...chainProblems(cert, ca, readNameConstraints(ca)).map((p) => `${file} ${p}`));
  return {
    file,
    subject: cert.subject.replace(/\n/g, ', '),
    issuer: cert.issuer.replace(/\n/g, ', '),
    serial: cert.serialNumber,
    isCa: cert.ca,
    sans: subjectAltNames(cert.raw).map(describeSan),
    extKeyUsage: (cert.keyUsage ?? []).map((oid) => EKU_NAMES[oid] ?? oid),
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: new Date(cert.validTo).toISOString(),
    daysLeft: left,
    sha256: cert.fingerprint256,
    keyType: keyType(cert),
    ...(nc ? { nameConstraints: { permitted: nc.permitted.map(describeConstraint), excluded: nc.excluded.map(describeConstraint) } } : {}),
    warnings,
    problems,
  };
}
