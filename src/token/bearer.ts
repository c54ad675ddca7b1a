// auth.mode token: every request carries a Bearer token minted by the
// gateway's /token endpoint. Challenges follow distribution's
// accesscontroller: 401 with realm, service, the scope needed and, for a bad
// token or too little access, the error.
import type { IncomingMessage } from 'node:http';
import type { Access } from '../registry/access.js';
import type { AccessController, Decision } from '../auth/controller.js';
import { claimsCover, formatScope } from '../registry/scope.js';
import type { KeyRing } from './keyring.js';
import { evictOldest } from '../util/evict.js';
import { metrics } from '../metrics/metrics.js';
import { TokenError, verifyAccessToken, type AccessClaims, type TokenSettings } from './tokens.js';

export interface BearerOptions {
  ring: () => KeyRing;
  settings: TokenSettings;
  /** Absolute URL of /token: clients cannot use a relative realm. */
  realm: (req: IncomingMessage) => string;
}

const quote = (s: string) => `"${s.replace(/["\\]/g, '')}"`;

/**
 * The token of exactly one `Bearer <token68>` Authorization header
 * (req.headersDistinct), else undefined: the request is challenged. As for
 * Basic, the scheme's case and spaces or tabs around the token do not matter,
 * and a second header makes it malformed.
 */
export function parseBearer(header: string | readonly string[] | undefined): string | undefined {
  if (header === undefined || (typeof header !== 'string' && header.length !== 1)) return undefined;
  return /^[ \t]*Bearer[ \t]+([A-Za-z0-9._~+/-]+=*)[ \t]*$/i.exec(typeof header === 'string' ? header : header[0]!)?.[1];
}

/**
 * Verified tokens by their text, oldest evicted first. Bounded by bytes as
 * well as entries: a token may be tens of KiB (many scopes, long names), and
 * anyone may mint anonymous ones.
 */
export function tokenCache(maxEntries: number, maxBytes: number) {
  const entries = new Map<string, AccessClaims>();
  let bytes = 0;
  const drop = (token: string) => {
    if (entries.delete(token)) bytes -= token.length;
  };
  return {
    get: (token: string) => entries.get(token),
    set(token: string, claims: AccessClaims) {
      drop(token);
      if (token.length > maxBytes) return;
      evictOldest(entries, () => entries.size >= maxEntries || bytes + token.length > maxBytes, drop);
      entries.set(token, claims);
      bytes += token.length;
    },
    drop,
    get size() {
      return entries.size;
    },
    get bytes() {
      return bytes;
    },
  };
}

export function bearerController(opts: BearerOptions): AccessController {
  // A client sends the same token with every request, and one signature
  // check per token is enough, as long as the key ring is the same: a new
  // ring (a retired key deleted) checks every token again.
  let verified = tokenCache(10_000, 8 * 1024 * 1024);
  let verifiedWith = opts.ring();

  const challenge = (
    req: IncomingMessage, access: Access[], error?: 'invalid_token' | 'insufficient_scope', message = 'authentication required',
  ): Decision => {
    const params = [`realm=${quote(opts.realm(req))}`, `service=${quote(opts.settings.service)}`];
    // The optional access too (a mount's source, as distribution names it):
    // clients ask for exactly the challenged scopes, and without it their
    // token could never mount.
    if (access.some((a) => !a.optional)) params.push(`scope=${quote(access.map(formatScope).join(' '))}`);
    if (error) params.push(`error=${quote(error)}`);
    return { kind: 'challenge', status: 401, code: 'UNAUTHORIZED', message, headers: { 'WWW-Authenticate': `Bearer ${params.join(',')}` } };
  };

  async function claimsOf(token: string): Promise<AccessClaims> {
    if (opts.ring() !== verifiedWith) {
      verified = tokenCache(10_000, 8 * 1024 * 1024);
      verifiedWith = opts.ring();
    }
    const hit = verified.get(token);
    if (hit && hit.expires + 60_000 > Date.now()) return hit;
    verified.drop(token);
    const claims = await verifyAccessToken(opts.ring(), opts.settings, token);
    verified.set(token, claims);
    return claims;
  }

  return {
    async authorized(req, access) {
      const token = parseBearer(req.headersDistinct.authorization);
      if (token === undefined) {
        metrics.authFailure(req.headers.authorization === undefined ? 'missing' : 'malformed');
        return challenge(req, access);
      }
      let claims: AccessClaims;
      try {
        claims = await claimsOf(token);
      } catch (err) {
        if (err instanceof TokenError) {
          // jose's code leads the message (tokens.ts): an expired token is a client that did not refresh, not a forgery.
          metrics.authFailure(err.message.startsWith('ERR_JWT_EXPIRED') ? 'token_expired' : 'token_invalid');
          return challenge(req, access, 'invalid_token', 'invalid or expired token');
        }
        throw err;
      }
      const granted = access.filter((a) => claimsCover(claims.access, a));
      if (access.some((a) => !a.optional && !granted.includes(a))) {
        metrics.authFailure('insufficient_scope');
        const refused = challenge(req, access, 'insufficient_scope', 'the token does not grant the access this request needs');
        return { ...refused, account: claims.subject } as Decision;
      }
      return { kind: 'grant', account: claims.subject, granted };
    },
    forwardsCredentials: false,
  };
}
