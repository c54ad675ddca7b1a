// The token server: GET /token (distribution's token.md), POST /token (OAuth2,
// oauth.md) and the JWKS. Logins go through the same password check and
// throttling as Basic auth.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ANONYMOUS, type Policy } from '../auth/access.js';
import { parseBasic } from '../auth/basic.js';
import type { PasswordLogin } from '../auth/passwordLogin.js';
import { sendJson } from '../proxy/errors.js';
import { grantFor } from './grant.js';
import type { KeyRing } from './keyring.js';
import { parseScope } from './scope.js';
import { mintAccessToken, mintRefreshToken, passwordStamp, TokenError, verifyRefreshToken, type TokenSettings } from './tokens.js';

export interface TokenEndpointOptions {
  ring: () => KeyRing;
  settings: TokenSettings;
  policy: Policy;
  login: PasswordLogin;
  /** The user's current hash, or undefined when the user is gone. */
  userHash: (user: string) => string | undefined;
  clientAddress: (req: IncomingMessage) => string;
}

export const TOKEN_PATHS = new Set(['/token', '/token/jwks.json', '/.well-known/jwks.json']);
const MAX_FORM = 64 * 1024;

class RequestError extends Error {
  constructor(readonly status: number, readonly error: string, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    const type = req.headers['content-type'] ?? '';
    if (!type.startsWith('application/x-www-form-urlencoded')) {
      reject(new RequestError(400, 'invalid_request', 'POST /token takes an application/x-www-form-urlencoded body'));
      return;
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
      if (body.length > MAX_FORM) {
        reject(new RequestError(413, 'invalid_request', 'form body too large'));
        req.destroy();
      }
    });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}

export function createTokenEndpoint(opts: TokenEndpointOptions) {
  const s = opts.settings;

  function checkService(service: string | null): void {
    if (service !== null && service !== s.service) throw new RequestError(400, 'invalid_request', `unknown service '${service}': this token server issues tokens for '${s.service}'`);
  }

  async function login(user: string, password: string, req: IncomingMessage): Promise<string> {
    const result = await opts.login.login(user, password, opts.clientAddress(req));
    if (result.ok) return result.account;
    if (result.status === 429) throw new RequestError(429, 'slow_down', result.message, { 'Retry-After': String(result.retryAfter ?? 1) });
    throw new RequestError(401, 'invalid_grant', result.message, { 'WWW-Authenticate': 'Basic realm="registry-gateway token", charset="UTF-8"' });
  }

  async function respond(res: ServerResponse, account: string, scopes: string[], refresh: boolean, oauth: boolean): Promise<void> {
    const asked = scopes.flatMap((text) => {
      const a = parseScope(text);
      return a ? [a] : [];
    });
    const granted = grantFor(opts.policy, account, asked);
    const minted = await mintAccessToken(opts.ring(), s, account, granted);
    const hash = account === ANONYMOUS ? undefined : opts.userHash(account);
    const body: Record<string, unknown> = {
      token: minted.token,
      access_token: minted.token,
      expires_in: minted.expiresIn,
      issued_at: minted.issuedAt,
    };
    if (oauth) body.scope = granted.map((a) => `${a.type}:${a.name}:${a.actions.join(',')}`).join(' ');
    if (refresh && hash !== undefined) body.refresh_token = await mintRefreshToken(opts.ring(), s, account, passwordStamp(hash));
    sendJson(res, 200, body, { 'Cache-Control': 'no-store' });
  }

  async function get(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    checkService(query.get('service'));
    const creds = parseBasic(req.headers.authorization);
    if (creds === 'malformed') throw new RequestError(400, 'invalid_request', 'malformed Authorization header: expected Basic credentials');
    const account = creds ? await login(creds.user, creds.password, req) : ANONYMOUS;
    const named = query.get('account');
    // `account` was dropped from the spec but docker and skopeo still send it.
    if (named && creds && named !== creds.user) throw new RequestError(400, 'invalid_request', `account '${named}' does not match the user who logged in`);
    await respond(res, account, query.getAll('scope'), query.get('offline_token') === 'true', false);
  }

  async function post(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = await readForm(req);
    checkService(form.get('service'));
    const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
    const offline = form.get('access_type') === 'offline';
    const grant = form.get('grant_type');
    if (grant === 'password') {
      const user = form.get('username');
      const password = form.get('password');
      if (!user || password === null) throw new RequestError(400, 'invalid_request', 'grant_type=password needs username and password');
      return respond(res, await login(user, password, req), scopes, offline, true);
    }
    if (grant === 'refresh_token') {
      const token = form.get('refresh_token');
      if (!token) throw new RequestError(400, 'invalid_request', 'grant_type=refresh_token needs refresh_token');
      let subject: string;
      try {
        const claims = await verifyRefreshToken(opts.ring(), s, token);
        // Checked against the user file now: a removed user or a changed
        // password ends every refresh token issued before.
        const hash = opts.userHash(claims.subject);
        if (hash === undefined || passwordStamp(hash) !== claims.stamp) throw new TokenError('user removed or password changed');
        subject = claims.subject;
      } catch (err) {
        if (err instanceof TokenError) throw new RequestError(401, 'invalid_grant', 'invalid or expired refresh token; log in again');
        throw err;
      }
      return respond(res, subject, scopes, offline, true);
    }
    throw new RequestError(400, 'unsupported_grant_type', `grant_type must be password or refresh_token, not '${grant ?? ''}'`);
  }

  return async function handle(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    try {
      if (path !== '/token') {
        if (req.method !== 'GET' && req.method !== 'HEAD') throw new RequestError(405, 'invalid_request', 'the JWKS is read with GET');
        sendJson(res, 200, opts.ring().jwks, { 'Cache-Control': 'max-age=300' });
        return;
      }
      if (req.method === 'GET') await get(req, res, query);
      else if (req.method === 'POST') await post(req, res);
      else throw new RequestError(405, 'invalid_request', 'use GET or POST on /token');
    } catch (err) {
      if (!(err instanceof RequestError)) throw err;
      // Both forms: the registry's errors array and OAuth2's error fields.
      sendJson(res, err.status, { error: err.error, error_description: err.message, errors: [{ code: err.status === 401 ? 'UNAUTHORIZED' : err.status === 429 ? 'TOOMANYREQUESTS' : 'UNSUPPORTED', message: err.message, detail: null }] }, err.headers);
    }
  };
}
