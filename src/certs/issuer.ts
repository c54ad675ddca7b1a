// The CA that signs new certificates, read back from disk and checked: the
// key must belong to the certificate before anything is signed with it.
import forge from 'node-forge';
import { fail } from '../errors.js';
import type { Issuer } from './build.js';
import { keyMatchesCertificate, rsaKeyFromPem } from './keys.js';
import { certPaths, readText } from './store.js';

export function parseCertificate(pem: string, path: string): forge.pki.Certificate {
  try {
    return forge.pki.certificateFromPem(pem);
  } catch (err) {
    return fail('FILE_INVALID', `${path} is not a PEM RSA certificate (${(err as Error).message}); ` +
      `regenerate it with 'gateway certs init --force'`);
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
  if (!matches) {
    fail('FILE_INVALID', `${paths.key} does not belong to ${paths.cert}; ` +
      `restore the matching key or start over with 'gateway certs init --force --new-ca'`);
  }
  return { cert, key: rsaKeyFromPem(keyPem) };
}
