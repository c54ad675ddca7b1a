// Where a certificate set lives on disk, and reading it back. The only module
// of certs/ that touches the file system for reading.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import forge from 'node-forge';
import { fail } from '../errors.js';
import type { Issuer } from './build.js';
import { keyMatchesCertificate, rsaKeyFromPem } from './keys.js';
import type { FileSpec } from '../util/atomicFiles.js';

export const KEY_MODE = 0o600;
export const CERT_MODE = 0o644;

export interface CertPaths {
  cert: string;
  key: string;
}

export const certPaths = (dir: string, name: string): CertPaths => ({
  cert: join(dir, `${name}.crt`),
  key: join(dir, `${name}.key`),
});

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Whether the certificate and key of a pair exist: both, neither, or one alone (broken). */
export async function pairState(paths: CertPaths): Promise<'both' | 'none' | 'cert-only' | 'key-only'> {
  const [cert, key] = await Promise.all([exists(paths.cert), exists(paths.key)]);
  return cert && key ? 'both' : cert ? 'cert-only' : key ? 'key-only' : 'none';
}

export async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return fail('FILE_MISSING', `${what} not found at ${path}`);
    return fail('FILE_INVALID', `cannot read ${what} at ${path}: ${code ?? (err as Error).message}`);
  }
}

export function parseCertificate(pem: string, path: string): forge.pki.Certificate {
  try {
    return forge.pki.certificateFromPem(pem);
  } catch (err) {
    return fail('FILE_INVALID', `${path} is not a PEM RSA certificate (${(err as Error).message}); regenerate it with 'gateway certs init --force'`);
  }
}

/** Loads the CA (certificate and key) that signs new certificates. */
export async function loadIssuer(dir: string): Promise<Issuer> {
  const paths = certPaths(dir, 'ca');
  const [certPem, keyPem] = [await readText(paths.cert, 'CA certificate'), await readText(paths.key, 'CA key')];
  const cert = parseCertificate(certPem, paths.cert);
  let matches = false;
  try {
    matches = keyMatchesCertificate(keyPem, certPem);
  } catch (err) {
    fail('FILE_INVALID', `${paths.key} is not a readable private key (${(err as Error).message})`);
  }
  if (!matches) fail('FILE_INVALID', `${paths.key} does not belong to ${paths.cert}; restore the matching key or start over with 'gateway certs init --force --new-ca'`);
  return { cert, key: rsaKeyFromPem(keyPem) };
}

export function pairFiles(paths: CertPaths, certPem: string, keyPem: string): FileSpec[] {
  return [
    { path: paths.key, content: keyPem, mode: KEY_MODE },
    { path: paths.cert, content: certPem, mode: CERT_MODE },
  ];
}
