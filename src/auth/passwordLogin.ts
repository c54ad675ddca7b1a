// Checking a user name and password, with throttling: shared by Basic auth on
// every request and by the token endpoint's logins.
import { BusyError } from './bcryptPool.js';
import type { Throttle } from './throttle.js';
import type { Verifier } from './verifier.js';

export type LoginResult =
  | { ok: true; account: string }
  | { ok: false; status: 401 | 429; message: string; retryAfter?: number };

export interface PasswordLogin {
  login(user: string, password: string, clientAddress: string): Promise<LoginResult>;
}

export function createPasswordLogin(verifier: Verifier, byAddress: Throttle, byUser: Throttle): PasswordLogin {
  // Per throttle key: the credentials being checked now, and how many
  // requests wait on each. Distinct credentials count against the limit;
  // the same ones sent in parallel (a client's concurrent layer uploads)
  // share one bcrypt run and count once.
  const pending = new Map<string, Map<string, number>>();
  const track = (key: string, cred: string, by: number) => {
    const waiting = pending.get(key) ?? new Map<string, number>();
    const n = (waiting.get(cred) ?? 0) + by;
    if (n === 0) waiting.delete(cred);
    else waiting.set(cred, n);
    if (waiting.size === 0) pending.delete(key);
    else pending.set(key, waiting);
  };
  const others = (key: string, cred: string) => {
    const waiting = pending.get(key);
    return waiting ? waiting.size - (waiting.has(cred) ? 1 : 0) : 0;
  };
  return {
    async login(user, password, clientAddress) {
      // Credentials verified moments ago pass without the throttles: a guesser
      // flooding from elsewhere (even at this user) cannot lock out a client
      // that already logged in, and this costs no bcrypt.
      if (verifier.known(user, password)) return { ok: true, account: user };
      const address = `addr:${clientAddress}`;
      const userKey = `user:${user}`;
      const cred = `${user}\0${password}`;
      const wait = Math.max(byAddress.retryAfter(address, others(address, cred)), byUser.retryAfter(userKey, others(userKey, cred)));
      if (wait > 0) return { ok: false, status: 429, message: `too many failed logins; retry in ${wait} s`, retryAfter: wait };
      let ok: boolean;
      track(address, cred, 1);
      track(userKey, cred, 1);
      try {
        ok = await verifier.verify(user, password);
      } catch (err) {
        if (err instanceof BusyError) return { ok: false, status: 429, message: 'too many logins being checked; retry shortly', retryAfter: 1 };
        throw err;
      } finally {
        track(address, cred, -1);
        track(userKey, cred, -1);
      }
      if (!ok) {
        byAddress.failure(address);
        byUser.failure(userKey);
        return { ok: false, status: 401, message: 'invalid username or password' };
      }
      byAddress.success(address);
      return { ok: true, account: user };
    },
  };
}
