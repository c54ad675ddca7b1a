// Checks user:password against htpasswd hashes. Docker, containerd and skopeo
// send Basic credentials on every request, so successful checks are cached
// (keyed by an HMAC of user and password, never the password), concurrent
// checks of the same credentials share one bcrypt run, and unknown users cost
// as much as known ones.
import { createHmac, randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { evictOldest } from '../util/evict.js';
import type { BcryptPool, CheckOrigin } from './bcryptPool.js';

export type { CheckOrigin };

export interface Verifier {
  verify(user: string, password: string, origin?: CheckOrigin): Promise<boolean>;
  /** Whether these exact credentials were verified recently (and the hash is unchanged): no bcrypt. */
  known(user: string, password: string): boolean;
  /** Forget every cached success (the user file changed). */
  clear(): void;
}

export interface VerifierOptions {
  pool: BcryptPool;
  /** The current hash for a user, or undefined. */
  lookup: (user: string) => string | undefined;
  ttlMs?: number;
  maxEntries?: number;
  now?: () => number;
}

// Compared against for unknown users so that they take as long as known ones.
// Made on first use: every CLI command loads this module, few check passwords.
let dummyHash: string | undefined;
const dummy = () => (dummyHash ??= bcrypt.hashSync(randomBytes(16).toString('hex'), 10));

export function createVerifier(opts: VerifierOptions): Verifier {
  const secret = randomBytes(32);
  const ttl = opts.ttlMs ?? 5 * 60_000;
  const max = opts.maxEntries ?? 10_000;
  const now = opts.now ?? Date.now;
  // key -> the hash it was verified against and when that stops counting
  const cache = new Map<string, { hash: string; expires: number }>();
  const inflight = new Map<string, Promise<boolean>>();

  const keyOf = (user: string, password: string) =>
    createHmac('sha256', secret).update(user).update('\0').update(password).digest('base64');

  // A cached success counts only while the user still has the same hash:
  // a removed user or a changed password fails at once.
  const cached = (user: string, key: string): boolean => {
    const hash = opts.lookup(user);
    const hit = cache.get(key);
    if (hit && hash !== undefined && hit.hash === hash && hit.expires > now()) return true;
    if (hit) cache.delete(key);
    return false;
  };

  return {
    known: (user, password) => cached(user, keyOf(user, password)),
    async verify(user, password, origin) {
      const hash = opts.lookup(user);
      const key = keyOf(user, password);
      if (cached(user, key)) return true;
      const running = inflight.get(key);
      if (running) return running;
      const check = opts.pool.compare(password, hash ?? dummy(), origin).then((ok) => {
        const valid = ok && hash !== undefined;
        if (valid) {
          evictOldest(cache, () => cache.size >= max);
          cache.set(key, { hash, expires: now() + ttl });
        }
        return valid;
      }).finally(() => inflight.delete(key));
      inflight.set(key, check);
      return check;
    },
    clear() {
      cache.clear();
    },
  };
}
