// Failed-login throttling: after `limit` failures within `windowMs` a key
// (a client address, a user name, or the pair: passwordLogin.ts) is refused
// for the rest of the window.
// Successful logins from elsewhere are not affected, so an attacker cannot
// lock out a client that already holds valid, cached credentials.
import { evictOldest } from '../util/evict.js';

export interface Throttle {
  /**
   * Seconds to wait, or 0 when the key may try. `pending` is the number of
   * this key's checks still running: they count as possible failures, or a
   * client firing in parallel would get every try it sends before the first
   * failure is recorded.
   */
  retryAfter(key: string, pending?: number): number;
  failure(key: string): void;
  success(key: string): void;
}

export function createThrottle(limit: number, windowMs: number, now: () => number = Date.now, maxKeys = 100_000): Throttle {
  const entries = new Map<string, { count: number; start: number }>();
  const current = (key: string) => {
    const e = entries.get(key);
    if (e && now() - e.start >= windowMs) {
      entries.delete(key);
      return undefined;
    }
    return e;
  };
  return {
    retryAfter(key, pending = 0) {
      const e = current(key);
      if (e && e.count >= limit) return Math.max(1, Math.ceil((e.start + windowMs - now()) / 1000));
      return (e?.count ?? 0) + pending >= limit ? 1 : 0;
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
}
