// Logged-out sessions: their ids, kept until the session would have ended
// anyway. In this process always; with `redis:` configured also in Redis, so
// that a cookie replayed to another replica (or --workers process) after
// logout is refused there too. Redis down: this process's own list decides,
// as the login throttles do (a session logged out elsewhere meanwhile lives
// on there until its idle expiry, at most 30 minutes). A Redis that lost its
// data (restarted without persistence) has a new epoch (src/shared/redis.ts):
// every session issued before it is refused, since its logout may be lost.
import { createHash } from 'node:crypto';
import { evictOldest } from '../util/evict.js';

export interface Revocations {
  revoke(id: string, untilMs: number): Promise<void>;
  /** `issuedAtMs`: when the session was issued (its iat); one issued before the shared epoch counts as revoked. */
  revoked(id: string, issuedAtMs?: number): Promise<boolean>;
}

export function localRevocations(now: () => number = Date.now, maxEntries = 100_000): Revocations & { readonly size: number } {
  const ids = new Map<string, number>();
  const prune = () => {
    for (const [id, until] of ids) if (until <= now()) ids.delete(id);
  };
  return {
    async revoke(id, untilMs) {
      if (ids.size >= maxEntries) prune();
      evictOldest(ids, () => ids.size >= maxEntries);
      ids.delete(id);
      ids.set(id, untilMs);
    },
    async revoked(id) {
      const until = ids.get(id);
      if (until === undefined) return false;
      if (until > now()) return true;
      ids.delete(id);
      return false;
    },
    get size() {
      return ids.size;
    },
  };
}

/** What this needs of the shared Redis (src/shared/redis.ts's SharedState has it). */
export interface RevocationStore {
  prefix: string;
  usable(): boolean;
  failed(err: unknown): void;
  /** When Redis's data began (ms); undefined until known. */
  epoch?(): number | undefined;
  client: {
    set(key: string, value: string, mode: 'PX', ms: number): Promise<unknown>;
    exists(key: string): Promise<number>;
  };
}

export function sharedRevocations(store: RevocationStore, local: Revocations, now: () => number = Date.now): Revocations {
  // Hashed: a session id is a bearer secret's part, not for Redis in the clear.
  const key = (id: string) => `${store.prefix}ui-revoked:${createHash('sha256').update(id).digest('base64url')}`;
  return {
    async revoke(id, untilMs) {
      await local.revoke(id, untilMs);
      const ms = Math.max(1, untilMs - now());
      if (store.usable()) await store.client.set(key(id), '1', 'PX', ms).catch((err: unknown) => store.failed(err));
    },
    async revoked(id, issuedAtMs) {
      if (await local.revoked(id)) return true;
      // Known even while Redis is away: the epoch last read.
      const epoch = store.epoch?.();
      if (issuedAtMs !== undefined && epoch !== undefined && issuedAtMs < epoch) return true;
      if (!store.usable()) return false;
      try {
        return (await store.client.exists(key(id))) > 0;
      } catch (err) {
        store.failed(err);
        return false;
      }
    },
  };
}
