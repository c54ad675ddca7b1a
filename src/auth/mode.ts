// An auth mode, as distribution's auth backends are: a module that builds,
// reloads and closes its own parts (user file, bcrypt workers, throttles,
// keys) and hands the server a controller and any endpoints of its own (the
// token server's /token). Modes are chosen from a Record<mode, factory> in
// server/authModes.ts; nothing else knows which one runs.
import type { IncomingMessage } from 'node:http';
import type { AuthModeName, ConfigFor } from '../config/config.js';
import type { Logger } from '../util/log.js';
import type { AccessController } from './controller.js';
import type { PasswordLogin } from './passwordLogin.js';
import type { Policy } from './policy.js';
import type { Throttle } from './throttle.js';

import type { Endpoint } from '../http/endpoint.js';

/**
 * A mode's user accounts, for logins that are not a registry request (the
 * web UI's). Absent in a mode without accounts (none: everyone is anonymous).
 */
export interface Accounts {
  /** The same throttled check as Basic and /token: another way in must not be a way around its limits. */
  login: PasswordLogin;
  /** A stamp of the user's current password hash, undefined when the user is gone: what outlives a login carries it. */
  stamp(user: string): string | undefined;
  /**
   * A pull-only credential the mode's own login takes as this user's
   * password (a pull secret that is not the password); absent where the mode
   * has none (htpasswd: a pull secret holds the password).
   */
  pullToken?(user: string): Promise<{ token: string; expiresAt: string }>;
}

export interface AuthMode {
  controller: AccessController;
  endpoints: Endpoint[];
  accounts?: Accounts;
  /** Re-reads what can change under a running gateway (SIGHUP: the token keys). */
  reload(): Promise<void>;
  close(): Promise<void>;
}

/** What a mode may use from the server: side effects stay at this edge. */
export interface ModeContext<M extends AuthModeName = AuthModeName> {
  /** `auth` narrowed to mode M's settings. */
  config: ConfigFor<M>;
  policy: Policy;
  log: Logger;
  /** https://host:port clients use, for absolute URLs in challenges. */
  publicOrigin(req: IncomingMessage): string;
  clientAddress(req: IncomingMessage): string;
  /** A failed-login throttle: counted in Redis when `redis:` is set (every replica), else per process, relayed between --workers. */
  throttle(name: string, limit: number, windowMs: number): Throttle;
}

export type ModeFactory<M extends AuthModeName = AuthModeName> = (ctx: ModeContext<M>) => Promise<AuthMode>;
