// The CAs a node should trust, as one PEM bundle: the CA that signs now, and
// during a CA rollover the other one too (ca-next.crt in the first phase,
// ca-previous.crt in the second). Every runtime reads several certificates
// from one PEM file (Go's AppendCertsFromPEM, OpenSSL), so one file serves
// docker certs.d, containerd's `ca`, k3s's ca_file and podman alike, and the
// setup command's pinned SHA-256 covers the whole set.
import { join } from 'node:path';
import { exists, readText } from './store.js';

/** In the order served: the signing CA first. */
export const TRUST_FILES = ['ca.crt', 'ca-next.crt', 'ca-previous.crt'] as const;

/** Every file whose change changes what nodes must trust (watched by serve). */
export const trustPaths = (dir: string): string[] => TRUST_FILES.map((f) => join(dir, f));

/** LF only, one trailing newline: node-forge writes CRLF, and ConfigMaps and shells carry the \r along. */
export const normalizePem = (pem: string): string => `${pem.replace(/\r\n?/g, '\n').trimEnd()}\n`;

/** The trust bundle of a certificate directory; ca.crt must exist. */
export async function readTrustPem(dir: string): Promise<string> {
  const parts = [normalizePem(await readText(join(dir, 'ca.crt'), 'CA certificate'))];
  for (const name of TRUST_FILES.slice(1)) {
    const path = join(dir, name);
    if (await exists(path)) parts.push(normalizePem(await readText(path, `CA certificate (${name})`)));
  }
  return parts.join('');
}
