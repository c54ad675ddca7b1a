// Checking a user name and password, with throttling: shared by Basic auth on
// every request and by the token endpoint's logins.
//
// Why three throttles. A per-user limit that refuses everyone lets anyone
// keep a user out: a few wrong passwords a minute and the user's correct
// login gets 429 too. So past its limit a user refuses only the sources
// that already failed for it in the window: one failure taints the (user,
// source) pair. A correct login from an untainted source always gets its
// check, and guessing stays bounded:
// - per source (sourceKey: IPv4 address, IPv6 /56), byAddress failures per
//   window, whatever the users;
// - per user, byUser failures per window, then one try per untainted source.
//   Its taint lasts a window from its first failure, so one source's tries
//   past the limit are a window apart: at most byUser + one per source per
//   window.
// A source is an IPv4 address or an IPv6 /56 everywhere here (one grouping
// for every login limit), not a /64: a customer's /56 holds 256 /64s, and at
// one try each a user would get hundreds of guesses a minute more. The
// price: an attacker in the user's /56 can keep the user out, as one behind
// the user's NAT can with any design.
//
// The password checks themselves (bcryptPool.ts) serve clean sources first:
// a source with no failure in the window goes ahead of those with failures,
// each source has only a few checks queued, and a check refused because the
// queue is full counts as a failure for its source. A spray from many
// addresses then costs the sprayers their allowance, and a correct login
// from a clean source waits only for the checks running.
// Checks still running count as failures for every key, or parallel guesses
// (from one address, or from untainted ones at a locked user) would each get
// a try before the first failure is recorded: each check holds a try at its
// three keys until it ends (throttle.ts). The throttles may count in Redis,
// shared by replicas; credentials verified moments ago never reach them.
import { BusyError } from './bcryptPool.js';
import type { Throttle } from './throttle.js';
import type { Verifier } from './verifier.js';
import { LRUCache } from 'lru-cache';
import { sourceKey } from '../util/address.js';

export type LoginResult =
  | { ok: true; account: string }
  | { ok: false; status: 401 | 429; message: string; retryAfter?: number };

export interface PasswordLogin {
  login(user: string, password: string, clientAddress: string): Promise<LoginResult>;
}

export interface LoginThrottles {
  /** Failures per address key, for any user. */
  byAddress: Throttle;
  /** Failures per user, from any address. */
  byUser: Throttle;
  /** Failures per (user, source), limit 1: whether this source failed for this user in the window. */
  byUserSource: Throttle;
}

/** How long a source counts as having failed (the throttles' window). */
const FAILED_FOR_MS = 60_000;

export function createPasswordLogin(verifier: Verifier, throttles: LoginThrottles, failedForMs = FAILED_FOR_MS): PasswordLogin {
  const { byAddress, byUser, byUserSource } = throttles;
  // Sources with a failure in the window, in this process: their checks queue behind clean ones.
  const failed = new LRUCache<string, true>({ max: 100_000, ttl: failedForMs });
  // The same credentials from the same address, sent in parallel (a client's
  // concurrent layer uploads), are one attempt: one set of tries, one bcrypt
  // run, one answer for all. Distinct credentials are distinct attempts.
  const running = new Map<string, Promise<LoginResult>>();

  async function attempt(user: string, password: string, where: string): Promise<LoginResult> {
    const address = `addr:${where}`;
    const userKey = `user:${user}`;
    // The source first: it holds no NUL, so no two (user, source) pairs share a key.
    const pairKey = `pair:${where}\0${user}`;
    // Taken together (one round trip when they count in Redis). Over the
    // user's limit only a tainted pair waits, until the user's or the pair's
    // window ends, whichever comes first.
    const tries = await Promise.all([byAddress.take(address), byUser.take(userKey), byUserSource.take(pairKey)]);
    const [a, u, p] = tries;
    const end = (failed: boolean) => Promise.all(tries.map((t) => t.end(failed)));
    const wait = Math.max(a.wait, Math.min(u.wait, p.wait));
    if (wait > 0) {
      void end(false);
      return { ok: false, status: 429, message: `too many failed logins; retry in ${wait} s`, retryAfter: wait };
    }
    let ok: boolean;
    try {
      ok = await verifier.verify(user, password, { source: where, clean: !failed.has(where) });
    } catch (err) {
      if (err instanceof BusyError) {
        // A failure for the source (not for the user, whom it would let anyone lock): a spray that fills the queue pays for it.
        failed.set(where, true);
        await Promise.all([a.end(true), u.end(false), p.end(false)]);
        return { ok: false, status: 429, message: 'too many logins being checked; retry shortly', retryAfter: 1 };
      }
      void end(false);
      throw err;
    }
    if (!ok) {
      failed.set(where, true);
      // Recorded before the answer: the client's next try, wherever it lands, sees it.
      await end(true);
      return { ok: false, status: 401, message: 'invalid username or password' };
    }
    // The pair is cleared; the user's and the address's counts stay: clearing
    // either would hand a guesser a fresh allowance (at the address, by
    // logging in to an account of its own between guesses at others).
    void end(false);
    void byUserSource.success(pairKey);
    return { ok: true, account: user };
  }

  return {
    async login(user, password, clientAddress) {
      // Credentials verified moments ago pass without the throttles: a guesser
      // flooding from elsewhere (even at this user) cannot lock out a client
      // that already logged in, and this costs no bcrypt and no Redis.
      if (verifier.known(user, password)) return { ok: true, account: user };
      const where = sourceKey(clientAddress);
      // Unambiguous whatever the name holds (a NUL, a quote): another user's result is never shared.
      const key = JSON.stringify([where, user, password]);
      let result = running.get(key);
      if (!result) {
        result = attempt(user, password, where).finally(() => running.delete(key));
        running.set(key, result);
      }
      return result;
    },
  };
}
