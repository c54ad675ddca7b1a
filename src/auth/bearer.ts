// auth.mode token: every request carries a Bearer token minted by the
// gateway's /token endpoint. Challenges follow distribution's
// accesscontroller: 401 with realm, service, the scope needed and, for a bad
// token or too little access, the error.
import type { IncomingMessage } from 'node:http';
import type { Access, Policy } from './access.js';
import type { AccessController, Decision } from './controller.js';
import { claimsCover, formatScope } from '../token/scope.js';
import type { KeyRing } from '../token/keyring.js';
import { TokenError, verifyAccessToken, type AccessClaims, type TokenSettings } from '../token/tokens.js';

export interface BearerOptions {
  ring: () => KeyRing;
  settings: TokenSettings;
  policy: Policy;
  /** Absolute URL of /token: clients cannot use a relative realm. */
  realm: (req: IncomingMessage) => string;
  close: () => Promise<void>;
}

const quote = (s: string) => `"${s.replace(/["\\]/g, '')}"`;

export function bearerController(opts: BearerOptions): AccessController {
  // Verified tokens, by their text: a client sends the same token with every
  // request, and one signature check per token is enough.
  const verified = new Map<string, AccessClaims>();
  const MAX = 10_000;

  const challenge = (req: IncomingMessage, access: Access[], error?: 'invalid_token' | 'insufficient_scope', message = 'authentication required'): Decision => {
    const required = access.filter((a) => !a.optional);
    const params = [`realm=${quote(opts.realm(req))}`, `service=${quote(opts.settings.service)}`];
    if (required.length > 0) params.push(`scope=${quote(required.map(formatScope).join(' '))}`);
    if (error) params.push(`error=${quote(error)}`);
    return { kind: 'challenge', status: 401, code: 'UNAUTHORIZED', message, headers: { 'WWW-Authenticate': `Bearer ${params.join(',')}` } };
  };

  async function claimsOf(token: string): Promise<AccessClaims> {
    const hit = verified.get(token);
    if (hit && hit.expires + 60_000 > Date.now()) return hit;
    const claims = await verifyAccessToken(opts.ring(), opts.settings, token);
    if (verified.size >= MAX) verified.delete(verified.keys().next().value!);
    verified.set(token, claims);
    return claims;
  }

  return {
    async authorized(req, access) {
      const m = /^Bearer\s+([A-Za-z0-9._~+/=-]+)\s*$/i.exec(req.headers.authorization ?? '');
      if (!m) return challenge(req, access);
      let claims: AccessClaims;
      try {
        claims = await claimsOf(m[1]!);
      } catch (err) {
        if (err instanceof TokenError) return challenge(req, access, 'invalid_token', 'invalid or expired token');
        throw err;
      }
      const granted = access.filter((a) => claimsCover(claims.access, a));
      if (access.some((a) => !a.optional && !granted.includes(a))) {
        return { ...challenge(req, access, 'insufficient_scope', 'the token does not grant the access this request needs'), account: claims.subject } as Decision;
      }
      return { kind: 'grant', account: claims.subject, granted };
    },
    canPull: (account, name) => opts.policy(account, { type: 'repository', name, actions: ['pull'] }),
    close: opts.close,
  };
}
