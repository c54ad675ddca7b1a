// Where a certificate set lives on disk, and reading files back. Free of
// node-forge, so that `gateway serve` and `gateway bundle` can use it cheaply.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fail } from '../errors.js';
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

export function pairFiles(paths: CertPaths, certPem: string, keyPem: string): [key: FileSpec, cert: FileSpec] {
  return [
    { path: paths.key, content: keyPem, mode: KEY_MODE },
    { path: paths.cert, content: certPem, mode: CERT_MODE },
  ];
}
