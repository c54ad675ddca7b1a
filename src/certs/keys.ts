// RSA keys come from Node's native crypto (OpenSSL): generating a 3072-bit key
// in node-forge's pure JavaScript takes seconds and blocks the event loop.
import { generateKeyPair, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';

const generate = promisify(generateKeyPair);

export interface RsaKey {
  /** PKCS#8 PEM, what is written to disk (OpenSSL, Go and Node read it). */
  pem: string;
  forge: forge.pki.rsa.PrivateKey;
  publicKey: forge.pki.rsa.PublicKey;
}

export function rsaKeyFromPem(pem: string): RsaKey {
  // Normalise through Node so PKCS#1 and PKCS#8 input both work with forge.
  const object = createPrivateKey(pem);
  return fromKeyObject(object);
}

function fromKeyObject(object: KeyObject): RsaKey {
  if (object.asymmetricKeyType !== 'rsa') throw new Error(`expected an RSA key, got ${object.asymmetricKeyType ?? 'unknown'}`);
  const pem = object.export({ type: 'pkcs8', format: 'pem' }).toString();
  const key = forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey;
  return { pem, forge: key, publicKey: forge.pki.rsa.setPublicKey(key.n, key.e) };
}

export async function generateRsaKey(bits: 2048 | 3072 | 4096): Promise<RsaKey> {
  const { privateKey } = await generate('rsa', { modulusLength: bits, publicExponent: 0x10001 });
  return fromKeyObject(privateKey);
}

export type LeafKeyType = 'rsa' | 'ecdsa';

/**
 * A leaf's key: RSA 2048 (every client, the default) or ECDSA P-256 (every
 * current client too, and a TLS handshake costs the server far less).
 */
export async function generateLeafKey(type: LeafKeyType): Promise<{ pem: string; publicKey: KeyObject }> {
  const { privateKey, publicKey } = type === 'ecdsa'
    ? await generate('ec', { namedCurve: 'P-256' })
    : await generate('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
  return { pem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey };
}

/** Whether a private key (PEM) belongs to a certificate's public key (PEM). */
export function keyMatchesCertificate(keyPem: string, certPem: string): boolean {
  const fromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
  const fromCert = createPublicKey(certPem).export({ type: 'spki', format: 'der' });
  return fromKey.equals(fromCert);
}
