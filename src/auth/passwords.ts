// The user file and everything that checks a password against it, as one
// part that htpasswd and token mode each build for themselves: the file
// (re-read when it changes), bcrypt workers, the verifier's cache and the
// three login throttles (passwordLogin.ts says why three).
import { createHash } from 'node:crypto';
import { createBcryptPool } from './bcryptPool.js';
import { readHtpasswd, watchHtpasswd } from './htpasswd.js';
import type { ModeContext } from './mode.js';
import { createPasswordLogin, type PasswordLogin } from './passwordLogin.js';
import { createVerifier } from './verifier.js';

export interface Passwords {
  login: PasswordLogin;
  /** The user's current hash, or undefined when the user is gone. */
  userHash(user: string): string | undefined;
  /** passwordStamp of the user's current hash, or undefined when the user is gone. */
  stamp(user: string): string | undefined;
  close(): Promise<void>;
}

/**
 * A stamp of a password hash: what outlives a login (a refresh token, a pull
 * token, a web UI session) carries it and stops working when the password
 * changes or the user goes, not only when it expires.
 */
export const passwordStamp = (hash: string): string => createHash('sha256').update(hash).digest('base64url').slice(0, 22);

export async function createPasswords(ctx: ModeContext, path: string): Promise<Passwords> {
  const { log } = ctx;
  let users = await readHtpasswd(path);
  users.warnings.forEach((w) => log.warn(w));
  if (users.users.size === 0) log.warn(`${path} has no usable users: nobody can log in (add one with 'gateway users add NAME')`);
  const pool = createBcryptPool();
  const verifier = createVerifier({ pool, lookup: (u) => users.users.get(u) });
  const stopWatch = watchHtpasswd(path, (next) => {
    users = next;
    verifier.clear();
    next.warnings.forEach((w) => log.warn(w));
    log.info({ users: next.users.size }, 'htpasswd reloaded');
  }, (message) => log.error(message));
  const login = createPasswordLogin(verifier, {
    byAddress: ctx.throttle('address', 10, 60_000),
    byUser: ctx.throttle('user', 30, 60_000),
    byUserSource: ctx.throttle('user-source', 1, 60_000),
  });
  return {
    login,
    userHash: (u) => users.users.get(u),
    stamp(u) {
      const hash = users.users.get(u);
      return hash === undefined ? undefined : passwordStamp(hash);
    },
    async close() {
      stopWatch();
      await pool.close();
    },
  };
}
