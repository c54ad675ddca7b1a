// Failed-login throttling: after `limit` failures within `windowMs` a key
// (a client address, a user name, or the pair: passwordLogin.ts) is refused
// for the rest of the window, which starts at the key's first failure.
// Successful logins from elsewhere are not affected, so an attacker cannot
// lock out a client that already holds valid, cached credentials.
//
// A check takes a try before it runs and holds it until it ends: held tries
// count as failures, or a client firing in parallel would get every try it
// sends before the first failure is recorded. The shape is asynchronous so
// that the count can live elsewhere (Redis, shared by replicas:
// src/shared/throttle.ts); this one, in memory, answers at once.
import { evictOldest } from '../util/evict.js';

export type Awaitable<T> = T | Promise<T>;

/** A try at one key, taken before a check runs. */
export interface Try {
  /** Seconds to wait (nothing was taken), or 0: the try is held until end(). */
  wait: number;
  /** The check is over: `failed` records a failure, otherwise the try is given back. Never rejects. */
  end(failed: boolean): Awaitable<void>;
}

export interface Throttle {
  /** Takes a try at `key`, or says how long to wait. */
  take(key: string): Awaitable<Try>;
  /** Forgets the key's failures (a correct login clears its (user, source) pair). Never rejects. */
  success(key: string): Awaitable<void>;
}

/** The in-memory throttle: also told of failures seen elsewhere (other workers, or kept for when Redis is down). */
export interface LocalThrottle extends Throttle {
  take(key: string): Try;
  failure(key: string): void;
  success(key: string): void;
}

const REFUSED = (wait: number): Try => ({ wait, end: () => {} });

export function createThrottle(limit: number, windowMs: number, now: () => number = Date.now, maxKeys = 100_000): LocalThrottle {
  const entries = new Map<string, { count: number; start: number }>();
  // Tries held per key; bounded by the checks running at once (the bcrypt pool's queue).
  const held = new Map<string, number>();
  const current = (key: string) => {
    const e = entries.get(key);
    if (e && now() - e.start >= windowMs) {
      entries.delete(key);
      return undefined;
    }
    return e;
  };
  const release = (key: string) => {
    const n = (held.get(key) ?? 1) - 1;
    if (n <= 0) held.delete(key);
    else held.set(key, n);
  };
  const throttle: LocalThrottle = {
    take(key) {
      const e = current(key);
      if (e && e.count >= limit) return REFUSED(Math.max(1, Math.ceil((e.start + windowMs - now()) / 1000)));
      const running = held.get(key) ?? 0;
      if ((e?.count ?? 0) + running >= limit) return REFUSED(1);
      held.set(key, running + 1);
      let open = true;
      return {
        wait: 0,
        end(failed) {
          if (!open) return;
          open = false;
          release(key);
          if (failed) throttle.failure(key);
        },
      };
    },
    failure(key) {
      const e = current(key);
      if (e) e.count++;
      else {
        evictOldest(entries, () => entries.size >= maxKeys);
        entries.set(key, { count: 1, start: now() });
      }
    },
    success(key) {
      entries.delete(key);
    },
  };
  return throttle;
}
