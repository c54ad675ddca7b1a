// A failed-login throttle counted in Redis, so that N replicas give a
// guesser the tries of one (README, Scaling out). It has the in-memory
// throttle's rules (src/auth/throttle.ts) with two counters per key, both
// rate-limiter-flexible's RateLimiterRedis (an atomic INCRBY that sets the
// expiry only when it creates the key):
// - failures, in a fixed window from the key's first failure;
// - tries held by checks running on any replica. Taking one increments it
//   and then reads the failures; the increment is the point where parallel
//   tries from several replicas are put in order, so each sees those before
//   it. A try held by a replica that died (or one
//   whose command timed out and ran late) is forgotten when the counter's
//   window ends.
// Redis down or slow: this process's own throttle decides (it is told of
// every failure here, so it starts from what this process saw), never
// unlimited and never refusing a correct login for want of Redis.
import { createHash } from 'node:crypto';
import { RateLimiterRedis, type RateLimiterRes } from 'rate-limiter-flexible';
import type { LocalThrottle, Throttle, Try } from '../auth/throttle.js';
import type { SharedState } from './redis.js';

// Keys are hashed: a user name can be 16 KiB long, and Redis keeps no
// addresses or names in the clear.
const hashed = (key: string) => createHash('sha256').update(key).digest('base64url');

export function createRedisThrottle(shared: SharedState, name: string, limit: number, windowMs: number, local: LocalThrottle): Throttle {
  const duration = Math.max(1, Math.ceil(windowMs / 1000));
  const limiter = (kind: string) => new RateLimiterRedis({
    storeClient: shared.client, keyPrefix: `${shared.prefix}${kind}:${name}`, points: limit, duration,
  });
  const failures = limiter('failures');
  const held = limiter('held');

  /** Gives back a held try; one whose increment the counter's window end already wiped is not taken below zero. */
  const giveBack = async (k: string) => {
    const res = await held.reward(k, 1);
    if (res.consumedPoints < 0) await held.penalty(k, -res.consumedPoints);
  };
  const quietly = (op: Promise<unknown>) => op.then(() => {}, (err: unknown) => shared.failed(err));

  return {
    async take(key) {
      if (!shared.usable()) return local.take(key);
      const k = hashed(key);
      // The try is taken before the failures are read, as end() records a
      // failure before it gives its try back: a check ending meanwhile is
      // then seen in one count or in both (too strict for a moment), never
      // in neither. Read first, a burst over several replicas got an extra try.
      let running: RateLimiterRes;
      try {
        running = await held.penalty(k, 1);
      } catch (err) {
        shared.failed(err);
        return local.take(key);
      }
      let counted: RateLimiterRes | null;
      try {
        counted = await failures.get(k);
      } catch (err) {
        void quietly(giveBack(k));
        shared.failed(err);
        return local.take(key);
      }
      const count = counted?.consumedPoints ?? 0;
      const wait = count >= limit ? Math.max(1, Math.ceil(counted!.msBeforeNext / 1000))
        : count + running.consumedPoints - 1 >= limit ? 1 : 0;
      if (wait > 0) {
        void quietly(giveBack(k));
        return { wait, end: () => {} };
      }
      let open = true;
      const taken: Try = {
        wait: 0,
        async end(failed) {
          if (!open) return;
          open = false;
          if (failed) {
            // Kept for the time Redis is away: this process's own count.
            local.failure(key);
            // The failure before the try is given back: never a moment when it counts nowhere.
            await quietly(failures.penalty(k, 1));
          }
          await quietly(giveBack(k));
        },
      };
      return taken;
    },
    async success(key) {
      local.success(key);
      if (shared.usable()) await quietly(failures.delete(hashed(key)));
    },
  };
}
