// TLS for the listener: 1.2 and 1.3 only, Mozilla's "intermediate" ciphers, no renegotiation,
// optional client certificates, and reloading without dropping connections.
import { constants } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { watchFiles } from '../util/watchFiles.js';
import type { SecureContextOptions } from 'node:tls';
import { createSecureContext } from 'node:tls';
import { fail } from '../errors.js';
import { permissionProblem } from '../util/permission.js';

// https://ssl-config.mozilla.org/guidelines/5.7.json, "intermediate".
export const MOZILLA_INTERMEDIATE_CIPHERS = [
  'TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
  'DHE-RSA-AES128-GCM-SHA256', 'DHE-RSA-AES256-GCM-SHA384', 'DHE-RSA-CHACHA20-POLY1305',
].join(':');

export interface TlsPaths {
  cert: string;
  key: string;
  clientCA?: string | undefined;
}

async function read(path: string, what: string, fix: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const denied = permissionProblem(path, err);
    if (denied) return fail('FILE_INVALID', `cannot read the ${what} ${path}: ${denied}`);
    return fail('FILE_MISSING', `cannot read the ${what} ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'}); ${fix}`);
  }
}

/** Reads and checks the files; throws a GatewayError naming the bad one. */
export async function loadTls(paths: TlsPaths): Promise<SecureContextOptions> {
  const fix = "create them with 'gateway certs init' or point tls.cert/tls.key (or --certs) at them";
  const options: SecureContextOptions = {
    cert: await read(paths.cert, 'TLS certificate', fix),
    key: await read(paths.key, 'TLS key', fix),
    minVersion: 'TLSv1.2',
    ciphers: MOZILLA_INTERMEDIATE_CIPHERS,
    honorCipherOrder: false,
    // TLS 1.2 renegotiation gains a registry client nothing and lets one
    // connection demand handshake after handshake (CPU), so it is refused.
    secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
    ...(paths.clientCA ? { ca: await read(paths.clientCA, 'client CA', 'fix tls.clientCA') } : {}),
  };
  try {
    createSecureContext(options);
  } catch (err) {
    fail('FILE_INVALID', `${paths.cert} and ${paths.key} are not a usable certificate and key (${(err as Error).message}); ` +
      `re-issue them with 'gateway certs renew'`);
  }
  return options;
}

/** Calls onChange when any of the files changes (polled: renames replace them). */
export function watchTls(paths: TlsPaths, onChange: () => void, intervalMs = 2000): () => void {
  return watchFiles([paths.cert, paths.key, ...(paths.clientCA ? [paths.clientCA] : [])], onChange, intervalMs);
}
