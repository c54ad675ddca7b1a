// auth.mode htpasswd (Basic) and none: the controllers, and the modes that
// build them.
import type { IncomingMessage } from 'node:http';
import { type Policy } from './policy.js';
import { ANONYMOUS, type Access } from '../registry/access.js';
import { decide, type AccessController, type Decision } from './controller.js';
import type { ModeFactory } from './mode.js';
import type { PasswordLogin } from './passwordLogin.js';
import { createPasswords } from './passwords.js';
import { metrics } from '../metrics/metrics.js';

/**
 * Basic credentials from the Authorization header(s) (req.headersDistinct):
 * undefined when none was sent, 'malformed' for anything but exactly one
 * `Basic <base64 of user:password>`. The scheme's case, and spaces or tabs
 * around the credentials, do not matter (RFC 9110). Sent twice, even alike,
 * it is malformed: Node keeps only the first, and a credential must never
 * be read two ways, nor a request with one taken for anonymous. The one
 * exception is an empty user and password (`Basic Og==`): containers/image
 * (skopeo, podman, CRI-O) answers a Basic challenge with it when it has no
 * credentials, so it names no one and reads as none sent ("authentication
 * required", not "malformed").
 */
export function parseBasic(header: string | readonly string[] | undefined): { user: string; password: string } | 'malformed' | undefined {
  if (header === undefined) return undefined;
  if (typeof header !== 'string' && header.length !== 1) return 'malformed';
  const m = /^[ \t]*Basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i.exec(typeof header === 'string' ? header : header[0]!);
  if (!m) return 'malformed';
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  if (decoded === ':') return undefined;
  const colon = decoded.indexOf(':');
  if (colon <= 0) return 'malformed';
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export interface BasicOptions {
  realm: string;
  policy: Policy;
  login: PasswordLogin;
  clientAddress: (req: IncomingMessage) => string;
}

const DENIED = 'requested access to the resource is denied';

export function basicController(opts: BasicOptions): AccessController {
  const challenge = { 'WWW-Authenticate': `Basic realm="${opts.realm.replace(/["\\]/g, '')}", charset="UTF-8"` };
  const unauthorized = (message: string, account?: string): Decision => ({
    kind: 'challenge', status: 401, code: 'UNAUTHORIZED', message, headers: challenge, ...(account !== undefined ? { account } : {}),
  });
  const missing = (): Decision => {
    metrics.authFailure('missing');
    // Not distribution's bare default: containers/image prints that one as plain "unauthorized".
    return unauthorized('authentication required: no credentials were sent (log in, or give the client a user and password)');
  };

  async function authenticate(req: IncomingMessage): Promise<{ account: string } | Decision> {
    const creds = parseBasic(req.headersDistinct.authorization);
    if (creds === undefined) return { account: ANONYMOUS };
    if (creds === 'malformed') {
      metrics.authFailure('malformed');
      return unauthorized('malformed Authorization header: expected Basic credentials');
    }
    const result = await opts.login.login(creds.user, creds.password, opts.clientAddress(req));
    if (result.ok) return { account: result.account };
    if (result.status === 429) {
      metrics.throttled('logins');
      const headers = { 'Retry-After': String(result.retryAfter ?? 1) };
      return { kind: 'challenge', status: 429, code: 'TOOMANYREQUESTS', message: result.message, headers, account: creds.user };
    }
    metrics.authFailure('bad_password');
    return unauthorized(result.message, creds.user);
  }

  return {
    async authorized(req, access: Access[]) {
      const who = await authenticate(req);
      if ('kind' in who) return who;
      const { account } = who;
      // /v2/ (no access asked) needs an authenticated user, so `docker login` really checks.
      if (access.length === 0 && account === ANONYMOUS) return missing();
      const { granted, refused } = decide(access, (a) => opts.policy(account, a));
      if (!refused) return { kind: 'grant', account, granted };
      if (account === ANONYMOUS) return missing();
      metrics.authFailure('denied');
      return { kind: 'challenge', status: 403, code: 'DENIED', message: DENIED, headers: {}, account };
    },
    forwardsCredentials: false,
  };
}

/** auth.mode none: everyone is anonymous; the access rules (if any) still apply. */
export function noneController(policy: Policy): AccessController {
  return {
    async authorized(_req, access) {
      const { granted, refused } = decide(access, (a) => policy(ANONYMOUS, a));
      if (refused) metrics.authFailure('denied');
      return refused
        ? { kind: 'challenge', status: 403, code: 'DENIED', message: DENIED, headers: {}, account: ANONYMOUS }
        : { kind: 'grant', account: ANONYMOUS, granted };
    },
    // The upstream does its own authentication.
    forwardsCredentials: true,
  };
}

export const noneMode: ModeFactory<'none'> = async ({ policy }) => ({
  controller: noneController(policy),
  endpoints: [],
  reload: async () => {},
  close: async () => {},
});

export const htpasswdMode: ModeFactory<'htpasswd'> = async (ctx) => {
  const { config } = ctx;
  const passwords = await createPasswords(ctx, config.auth.htpasswd);
  return {
    controller: basicController({ realm: config.auth.realm, policy: ctx.policy, login: passwords.login, clientAddress: ctx.clientAddress }),
    endpoints: [],
    accounts: { login: passwords.login, stamp: passwords.stamp },
    reload: async () => {},
    close: () => passwords.close(),
  };
};
