// The token server: GET /token (distribution's token.md), POST /token (OAuth2,
// oauth.md) and the JWKS. Logins go through the same password check and
// throttling as Basic auth.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Policy } from '../auth/policy.js';
import { ANONYMOUS } from '../registry/access.js';
import type { LogEntry } from '../http/endpoint.js';
import { parseBasic } from '../auth/basic.js';
import type { PasswordLogin } from '../auth/passwordLogin.js';
import { RegistryError, sendJson, sendRegistryError, type RegistryErrorCode } from '../http/responses.js';
import { grantFor } from './grant.js';
import type { KeyRing } from './keyring.js';
import { formatScope, parseScope } from '../registry/scope.js';
import { metrics } from '../metrics/metrics.js';
import {
  mintAccessToken, mintRefreshToken, passwordStamp, TokenError, verifyPullToken, verifyRefreshToken, type TokenSettings,
} from './tokens.js';
import type { Access } from '../registry/access.js';

export interface TokenEndpointOptions {
  ring: () => KeyRing;
  settings: TokenSettings;
  policy: Policy;
  login: PasswordLogin;
  /** The user's current hash, or undefined when the user is gone. */
  userHash: (user: string) => string | undefined;
  clientAddress: (req: IncomingMessage) => string;
  /** Scopes one request may ask for (limits.tokenScopes): each adds to the token every later request carries. */
  maxScopes: number;
}

export const TOKEN_PATHS = new Set(['/token', '/token/jwks.json', '/.well-known/jwks.json']);
const MAX_FORM = 64 * 1024;
// What a pull token looks like (a compact JWS), checked before any signature work.
const COMPACT_JWS = /^[A-Za-z0-9_-]{1,4096}\.[A-Za-z0-9_-]{1,4096}\.[A-Za-z0-9_-]{1,1024}$/;

/** Who logged in, and whether with a pull token (tokens.ts: pull scopes only, no refresh token). */
interface Login { account: string; pullOnly: boolean }

/** A pull token grants pull on what it asks, nothing else (no push, no delete, no catalog). */
const pullOnlyScope = (a: Access): Access[] =>
  a.type === 'repository' && (a.actions as readonly string[]).some((x) => x === 'pull' || x === '*') ? [{ ...a, actions: ['pull'] }] : [];

// distribution's error codes have no generic bad request: the OAuth `error`
// is what a client should read; the registry code is the nearest there is.
function registryCode(status: number): RegistryErrorCode {
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 403) return 'DENIED';
  if (status === 429) return 'TOOMANYREQUESTS';
  if (status === 413) return 'SIZE_INVALID';
  return 'UNSUPPORTED';
}

/** A refusal in both forms: OAuth2's error fields and the registry's errors array. */
const refuse = (status: number, error: string, message: string, headers: Record<string, string> = {}) =>
  new RegistryError(status, registryCode(status), message, headers, error);

// The rest of the body is never read: sendJson closes the connection after
// the answer (Node ends the socket once it is flushed; destroying it at once
// would reset the connection and lose the answer).
const tooLarge = () => refuse(413, 'invalid_request', `form body too large: at most ${MAX_FORM / 1024} KiB`);

function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    const type = req.headers['content-type'] ?? '';
    if (!type.startsWith('application/x-www-form-urlencoded')) {
      reject(refuse(400, 'invalid_request', 'POST /token takes an application/x-www-form-urlencoded body'));
      return;
    }
    // Refused before reading when the client says how much it will send.
    if (Number(req.headers['content-length'] ?? 0) > MAX_FORM) {
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_FORM) return void chunks.push(chunk);
      req.off('data', onData);
      req.pause();
      reject(tooLarge());
    };
    req.on('data', onData);
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

function badScope(text: string): never {
  const shown = text.length > 200 ? `${text.slice(0, 200)}...` : text;
  throw refuse(400, 'invalid_scope', `scope '${shown}' does not parse: expected repository:NAME:ACTIONS ` +
    '(NAME a lowercase repository name, ACTIONS pull, push, delete or * joined by commas) or registry:catalog:*');
}

export function createTokenEndpoint(opts: TokenEndpointOptions) {
  const s = opts.settings;

  function checkService(service: string | null): void {
    if (service !== null && service !== s.service) {
      throw refuse(400, 'invalid_request', `unknown service '${service}': this token server issues tokens for '${s.service}'`);
    }
  }

  /** A pull token sent as the password: this user's, signed by our keys, and made with the user's current password. */
  async function pullTokenFor(user: string, password: string): Promise<boolean> {
    if (!COMPACT_JWS.test(password)) return false;
    try {
      const claims = await verifyPullToken(opts.ring(), s, password);
      const hash = opts.userHash(claims.subject);
      return claims.subject === user && hash !== undefined && passwordStamp(hash) === claims.stamp;
    } catch (err) {
      if (err instanceof TokenError) return false;
      throw err;
    }
  }

  async function login(user: string, password: string, req: IncomingMessage): Promise<Login> {
    // A valid pull token passes without the throttles, as verified credentials
    // do; anything else (a forged or stale one too) is a password login.
    if (await pullTokenFor(user, password)) return { account: user, pullOnly: true };
    const result = await opts.login.login(user, password, opts.clientAddress(req));
    if (result.ok) return { account: result.account, pullOnly: false };
    if (result.status === 429) {
      metrics.throttled('logins');
      throw refuse(429, 'slow_down', result.message, { 'Retry-After': String(result.retryAfter ?? 1) });
    }
    metrics.authFailure('bad_password');
    throw refuse(401, 'invalid_grant', result.message, { 'WWW-Authenticate': 'Basic realm="registry-gateway token", charset="UTF-8"' });
  }

  // Before any login: a refused request costs no bcrypt run and no failed try.
  // OAuth2 (RFC 6749 3.3) makes a scope a space-delimited list, and clients
  // (reggie, anyone passing the challenge's scope through) send several in one
  // value: every value is split. One that does not parse is refused, never
  // dropped: a silent empty grant reads as a 401 much later, far from its cause.
  function checkScopes(values: string[]): Access[] {
    const scopes = values.flatMap((v) => v.split(' ').filter(Boolean));
    if (scopes.length > opts.maxScopes) {
      throw refuse(400, 'invalid_scope', `${scopes.length} scopes asked; at most ${opts.maxScopes} per token request ` +
        '(raise limits.tokenScopes in the gateway config to allow more)');
    }
    return scopes.map((text) => parseScope(text) ?? badScope(text));
  }

  async function respond(
    res: ServerResponse, account: string, parsed: Access[], refresh: boolean, oauth: boolean, pullOnly = false,
  ): Promise<void> {
    const asked = pullOnly ? parsed.flatMap(pullOnlyScope) : parsed;
    const granted = grantFor(opts.policy, account, asked);
    const minted = await mintAccessToken(opts.ring(), s, account, granted);
    const hash = account === ANONYMOUS ? undefined : opts.userHash(account);
    const body: Record<string, unknown> = {
      token: minted.token,
      access_token: minted.token,
      expires_in: minted.expiresIn,
      issued_at: minted.issuedAt,
    };
    if (oauth) body.scope = granted.map(formatScope).join(' ');
    if (refresh && !pullOnly && hash !== undefined) body.refresh_token = await mintRefreshToken(opts.ring(), s, account, passwordStamp(hash));
    sendJson(res, 200, body, { 'Cache-Control': 'no-store' });
    metrics.tokenIssued('access');
    if (body.refresh_token !== undefined) metrics.tokenIssued('refresh');
  }

  async function get(req: IncomingMessage, res: ServerResponse, query: URLSearchParams, entry: LogEntry): Promise<void> {
    checkService(query.get('service'));
    const scopes = checkScopes(query.getAll('scope'));
    const creds = parseBasic(req.headersDistinct.authorization);
    if (creds === 'malformed') {
      metrics.authFailure('malformed');
      throw refuse(400, 'invalid_request', 'malformed Authorization header: expected Basic credentials');
    }
    const who: Login = creds ? await login(creds.user, creds.password, req) : { account: ANONYMOUS, pullOnly: false };
    const named = query.get('account');
    // `account` was dropped from the spec but docker and skopeo still send it.
    if (named && creds && named !== creds.user) {
      throw refuse(400, 'invalid_request', `account '${named}' does not match the user who logged in`);
    }
    if (who.account !== ANONYMOUS) entry.user = who.account;
    await respond(res, who.account, scopes, query.get('offline_token') === 'true', false, who.pullOnly);
  }

  async function post(req: IncomingMessage, res: ServerResponse, entry: LogEntry): Promise<void> {
    const form = await readForm(req);
    checkService(form.get('service'));
    const scopes = checkScopes(form.getAll('scope'));
    const offline = form.get('access_type') === 'offline';
    const grant = form.get('grant_type');
    if (grant === 'password') {
      const user = form.get('username');
      const password = form.get('password');
      if (!user || password === null) throw refuse(400, 'invalid_request', 'grant_type=password needs username and password');
      const who = await login(user, password, req);
      entry.user = who.account;
      return respond(res, who.account, scopes, offline, true, who.pullOnly);
    }
    if (grant === 'refresh_token') {
      const token = form.get('refresh_token');
      if (!token) throw refuse(400, 'invalid_request', 'grant_type=refresh_token needs refresh_token');
      let subject: string;
      try {
        const claims = await verifyRefreshToken(opts.ring(), s, token);
        // Checked against the user file now: a removed user or a changed
        // password ends every refresh token issued before.
        const hash = opts.userHash(claims.subject);
        if (hash === undefined || passwordStamp(hash) !== claims.stamp) throw new TokenError('user removed or password changed');
        subject = claims.subject;
      } catch (err) {
        if (err instanceof TokenError) {
          metrics.authFailure('refresh_invalid');
          throw refuse(401, 'invalid_grant', 'invalid or expired refresh token; log in again');
        }
        throw err;
      }
      entry.user = subject;
      return respond(res, subject, scopes, offline, true);
    }
    throw refuse(400, 'unsupported_grant_type', `grant_type must be password or refresh_token, not '${grant ?? ''}'`);
  }

  // entry: the request's access-log line, which names the account a token was issued to.
  return async function handle(
    req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams, entry: LogEntry = {},
  ): Promise<void> {
    try {
      if (path !== '/token') {
        if (req.method !== 'GET' && req.method !== 'HEAD') throw refuse(405, 'invalid_request', 'the JWKS is read with GET');
        sendJson(res, 200, opts.ring().jwks, { 'Cache-Control': 'max-age=300' });
        return;
      }
      if (req.method === 'GET') await get(req, res, query, entry);
      else if (req.method === 'POST') await post(req, res, entry);
      else throw refuse(405, 'invalid_request', 'use GET or POST on /token');
    } catch (err) {
      if (!(err instanceof RegistryError)) throw err;
      sendRegistryError(res, err);
    }
  };
}
