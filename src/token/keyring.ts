// The token-signing keys: an ECDSA P-256 key (ES256) with a certificate from
// the gateway CA. The certificate goes into every token's x5c header because
// distribution 2.8 verifies tokens only through a chain to its
// rootcertbundle; 3.x also matches the RFC 7638 kid.
import { createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { readdir, readFile, rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import { fail } from '../errors.js';
import { writeFilesAtomically } from '../util/atomicFiles.js';
import { buildLeaf } from '../certs/leaf.js';
import { certPaths, exists, readText } from '../certs/store.js';

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  /** base64 DER of the signing certificate. */
  x5c: string[];
}

export interface KeyRing {
  current: SigningKey;
  /** kid -> public key: the current key and retired ones that still verify. */
  verifiers: Map<string, KeyObject>;
  jwks: { keys: JWK[] };
}

/** token.key -> token.crt */
export const certPathFor = (keyPath: string): string => keyPath.replace(/\.key$/, '') + '.crt';

/**
 * Creates the signing key and its certificate next to the CA when missing.
 * Returns whether it did.
 */
export async function ensureSigningKey(keyPath: string, caDir: string): Promise<boolean> {
  if (await exists(keyPath)) return false;
  const ca = certPaths(caDir, 'ca');
  const certPem = await readText(ca.cert, 'CA certificate (needed to certify the token-signing key)');
  const keyPem = await readText(ca.key, 'CA key (needed to certify the token-signing key)');
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const cert = await buildLeaf(publicKey, { certPem, keyPem }, {
    usage: 'token-signing',
    hosts: [],
    now: new Date(),
    // As long as the CA: a registry rejects tokens whose chain has expired.
    notAfter: new Date(new X509Certificate(certPem).validTo),
    subject: [['O', 'registry-gateway'], ['CN', 'registry-gateway token signer']],
  });
  await writeFilesAtomically([
    { path: keyPath, content: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), mode: 0o600 },
    { path: certPathFor(keyPath), content: cert, mode: 0o644 },
  ]);
  return true;
}

async function jwkOf(publicKey: KeyObject): Promise<JWK & { kid: string }> {
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk, 'sha256');
  return { ...jwk, kid, alg: 'ES256', use: 'sig' };
}

async function readCert(path: string): Promise<X509Certificate> {
  try {
    return new X509Certificate(await readFile(path, 'utf8'));
  } catch (err) {
    return fail('FILE_INVALID', `cannot read token certificate ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Certificates of keys retired by rotateSigningKey: NAME-<time>.crt beside the key. */
async function retiredBeside(keyPath: string): Promise<string[]> {
  const base = basename(keyPath).replace(/\.key$/, '');
  const pattern = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-\\d{8}T\\d{6}\\.crt$`);
  const dir = dirname(keyPath);
  return (await readdir(dir).catch(() => [] as string[])).filter((f) => pattern.test(f)).sort().map((f) => join(dir, f));
}

/**
 * Loads the current signing key and the keys that still verify: those retired
 * beside it by `gateway token rotate`, and any listed in verifyKeys.
 */
export async function loadKeyRing(keyPath: string, extraCerts: readonly string[] = []): Promise<KeyRing> {
  const retiredCerts = [...new Set([...(await retiredBeside(keyPath)), ...extraCerts])];
  const privateKey = createPrivateKey(await readText(keyPath, 'token signing key'));
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    fail('FILE_INVALID', `${keyPath} is not an ECDSA P-256 key (tokens are ES256); move it away and restart to create one`);
  }
  const cert = await readCert(certPathFor(keyPath));
  const publicKey = createPublicKey(privateKey);
  if (!cert.publicKey.equals(publicKey)) fail('FILE_INVALID', `${certPathFor(keyPath)} does not belong to ${keyPath}`);
  const current = await jwkOf(publicKey);
  const verifiers = new Map<string, KeyObject>([[current.kid, publicKey]]);
  const keys: JWK[] = [current];
  for (const path of retiredCerts) {
    const retired = (await readCert(path)).publicKey;
    const jwk = await jwkOf(retired);
    verifiers.set(jwk.kid, retired);
    keys.push(jwk);
  }
  return { current: { kid: current.kid, privateKey, x5c: [cert.raw.toString('base64')] }, verifiers, jwks: { keys } };
}

/**
 * Retires the current signing key: it moves to NAME-<time>.key/.crt, a new
 * one is made, and the retired certificate is returned for `verifyKeys` so
 * tokens already issued keep verifying until they expire.
 */
export async function rotateSigningKey(keyPath: string, caDir: string, now = new Date()): Promise<{ retiredCert: string }> {
  if (!(await exists(keyPath))) {
    fail('FILE_MISSING', `no signing key at ${keyPath} to rotate; one is created at the first start in token mode`);
  }
  const stamp = now.toISOString().replace(/[-:]/g, '').slice(0, 15);
  const base = keyPath.replace(/\.key$/, '');
  const retiredKey = `${base}-${stamp}.key`;
  const retiredCert = `${base}-${stamp}.crt`;
  if ((await exists(retiredKey)) || (await exists(retiredCert))) {
    fail('FILE_EXISTS', `${retiredKey} already exists; wait a second and rotate again`);
  }
  await rename(certPathFor(keyPath), retiredCert);
  await rename(keyPath, retiredKey);
  await ensureSigningKey(keyPath, caDir);
  return { retiredCert };
}
