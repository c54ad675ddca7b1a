// `gateway certs show`: every certificate in the directory, checked against
// the CA, with its key, expiry and constraints.
import { X509Certificate } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { fail } from '../errors.js';
import { inspectCertificate, type CertReport } from './inspect.js';
import { keyMatchesCertificate } from './keys.js';
import { certPaths, exists, readText } from './store.js';

async function loadCert(path: string): Promise<X509Certificate> {
  const pem = await readText(path, 'certificate');
  try {
    return new X509Certificate(pem);
  } catch (err) {
    return fail('FILE_INVALID', `${path} is not a PEM certificate (${(err as Error).message})`);
  }
}

// Order: the CA, the server certificate, then issued ones by name.
const rank = (name: string) => (name === 'ca' ? 0 : name === 'server' ? 1 : 2);

async function keyProblems(dir: string, name: string, certPem: string): Promise<{ warnings: string[]; problems: string[] }> {
  const { key } = certPaths(dir, name);
  if (!(await exists(key))) return { warnings: [], problems: [] };
  const warnings: string[] = [];
  const mode = (await stat(key)).mode & 0o777;
  if (mode & 0o077) warnings.push(`${key} is readable by others (mode ${mode.toString(8)}); run 'chmod 600 ${key}'`);
  let matches = false;
  try {
    matches = keyMatchesCertificate(await readText(key, 'key'), certPem);
  } catch {
    // reported below as a mismatch
  }
  return { warnings, problems: matches ? [] : [`${key} does not belong to ${name}.crt`] };
}

export async function showCerts(dir: string, now: Date): Promise<{ reports: CertReport[]; ok: boolean }> {
  const caPath = certPaths(dir, 'ca').cert;
  if (!(await exists(caPath))) {
    fail('FILE_MISSING', `no CA in ${dir} (${caPath} not found); create one with 'gateway certs init --dir ${dir}'`);
  }
  const names = (await readdir(dir))
    .filter((f) => f.endsWith('.crt'))
    .map((f) => f.slice(0, -'.crt'.length))
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const ca = await loadCert(caPath);
  const reports: CertReport[] = [];
  for (const name of names) {
    const path = certPaths(dir, name).cert;
    const cert = name === 'ca' ? ca : await loadCert(path);
    const report = inspectCertificate(`${name}.crt`, cert, name === 'ca' ? undefined : ca, now);
    if (name === 'ca' && !(cert.ca && cert.verify(cert.publicKey))) report.problems.push('ca.crt is not a self-signed CA certificate');
    const keys = await keyProblems(dir, name, cert.toString());
    report.warnings.push(...keys.warnings);
    report.problems.push(...keys.problems);
    reports.push(report);
  }
  return { reports, ok: reports.every((r) => r.problems.length === 0) };
}
