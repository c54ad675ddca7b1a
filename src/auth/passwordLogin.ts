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
  return {
    async login(user, password, clientAddress) {
      // Credentials verified moments ago pass without the throttles: a guesser
      // flooding from elsewhere (even at this user) cannot lock out a client
      // that already logged in, and this costs no bcrypt.
      if (verifier.known(user, password)) return { ok: true, account: user };
      const address = `addr:${clientAddress}`;
      const userKey = `user:${user}`;
      const wait = Math.max(byAddress.retryAfter(address), byUser.retryAfter(userKey));
      if (wait > 0) return { ok: false, status: 429, message: `too many failed logins; retry in ${wait} s`, retryAfter: wait };
      let ok: boolean;
      try {
        ok = await verifier.verify(user, password);
      } catch (err) {
        if (err instanceof BusyError) return { ok: false, status: 429, message: 'too many logins being checked; retry shortly', retryAfter: 1 };
        throw err;
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
