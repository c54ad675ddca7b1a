// Minting and verifying tokens (jose). Access tokens follow distribution's
// jwt.md so that distribution itself accepts them; refresh tokens carry a
// different audience so that no registry ever takes one for an access token.
import { randomBytes } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import type { Access } from '../registry/access.js';
import type { Claim } from '../registry/scope.js';
import type { KeyRing } from './keyring.js';

export interface TokenSettings {
  service: string;
  issuer: string;
  ttl: number; // seconds
  refreshTtl: number;
}

/** A token that cannot be used: the reason is for logs, the client sees invalid_token. */
export class TokenError extends Error {
  readonly code = 'invalid_token';
}

// Clocks of nodes and registries drift; distribution allows 60 s too.
const LEEWAY_S = 60;
const ALGORITHMS = ['ES256'];
const refreshAudience = (service: string) => `refresh:${service}`;
// Pull tokens (a web UI pull secret's password) have their own audience too:
// neither a registry nor the refresh grant takes one.
const pullAudience = (service: string) => `pull:${service}`;

function header(ring: KeyRing) {
  return { alg: 'ES256', typ: 'JWT', kid: ring.current.kid, x5c: ring.current.x5c };
}

export interface Minted {
  token: string;
  expiresIn: number;
  issuedAt: string;
}

export async function mintAccessToken(
  ring: KeyRing, s: TokenSettings, subject: string, access: Access[], ttl = s.ttl, now = Date.now(),
): Promise<Minted> {
  const iat = Math.floor(now / 1000);
  const claims: Claim[] = access.map((a) => ({ type: a.type, name: a.name, actions: [...a.actions] }));
  const token = await new SignJWT({ access: claims })
    .setProtectedHeader(header(ring))
    .setIssuer(s.issuer)
    .setSubject(subject)
    .setAudience(s.service) // a string: distribution 2.8 rejects an array
    .setIssuedAt(iat)
    .setNotBefore(iat - 10)
    .setExpirationTime(iat + ttl)
    .setJti(randomBytes(16).toString('base64url'))
    .sign(ring.current.privateKey);
  return { token, expiresIn: ttl, issuedAt: new Date(iat * 1000).toISOString() };
}

// A refresh token stops working when the password changes (or the user
// goes), not only when it expires: it carries this stamp of the hash.
export { passwordStamp } from '../auth/passwords.js';

/**
 * A long-lived token for one user that ends with the password (the stamp of
 * its hash) and after refreshTtl: refresh tokens and pull tokens, told apart
 * by their audience.
 */
async function mintStamped(
  ring: KeyRing, s: TokenSettings, audience: string, subject: string, stamp: string, claims: Record<string, string>, iat: number,
): Promise<string> {
  return new SignJWT({ pwd: stamp, ...claims })
    .setProtectedHeader(header(ring))
    .setIssuer(s.issuer)
    .setSubject(subject)
    .setAudience(audience)
    .setIssuedAt(iat)
    .setNotBefore(iat - 10)
    .setExpirationTime(iat + s.refreshTtl)
    .setJti(randomBytes(16).toString('base64url'))
    .sign(ring.current.privateKey);
}

export async function mintRefreshToken(ring: KeyRing, s: TokenSettings, subject: string, stamp: string, now = Date.now()): Promise<string> {
  return mintStamped(ring, s, refreshAudience(s.service), subject, stamp, {}, Math.floor(now / 1000));
}

async function verify(ring: KeyRing, s: TokenSettings, token: string, audience: string): Promise<JWTPayload> {
  try {
    const { payload } = await jwtVerify(token, (protectedHeader) => {
      // Only our own keys, by kid: never a key the token carries (jwk, x5c).
      const key = protectedHeader.kid ? ring.verifiers.get(protectedHeader.kid) : undefined;
      if (!key) throw new TokenError('token signed by an unknown key');
      return key;
    }, { algorithms: ALGORITHMS, issuer: s.issuer, audience, clockTolerance: LEEWAY_S, typ: 'JWT' });
    return payload;
  } catch (err) {
    if (err instanceof TokenError) throw err;
    if (err instanceof joseErrors.JOSEError) throw new TokenError(`${err.code}: ${err.message}`);
    throw new TokenError('malformed token');
  }
}

export interface AccessClaims {
  subject: string;
  access: Claim[];
  expires: number; // ms
}

function isClaims(value: unknown): value is Claim[] {
  return Array.isArray(value) && value.every((c) => c && typeof c.type === 'string' && typeof c.name === 'string'
    && Array.isArray(c.actions) && c.actions.every((a: unknown) => typeof a === 'string'));
}

export async function verifyAccessToken(ring: KeyRing, s: TokenSettings, token: string): Promise<AccessClaims> {
  const payload = await verify(ring, s, token, s.service);
  if (!isClaims(payload.access) || typeof payload.sub !== 'string' || typeof payload.exp !== 'number') {
    throw new TokenError('missing sub, exp or access claims');
  }
  return { subject: payload.sub, access: payload.access, expires: payload.exp * 1000 };
}

/** A token of mintStamped's for `audience`, carrying `use` when given; `what` names it in the error. */
async function verifyStamped(
  ring: KeyRing, s: TokenSettings, token: string, audience: string, what: string, use?: string,
): Promise<{ subject: string; stamp: string }> {
  const payload = await verify(ring, s, token, audience);
  if (typeof payload.sub !== 'string' || payload.sub === '' || typeof payload.pwd !== 'string' || (use !== undefined && payload.use !== use)) {
    throw new TokenError(`not a ${what}`);
  }
  return { subject: payload.sub, stamp: payload.pwd };
}

export function verifyRefreshToken(ring: KeyRing, s: TokenSettings, token: string): Promise<{ subject: string; stamp: string }> {
  return verifyStamped(ring, s, token, refreshAudience(s.service), 'refresh token');
}

/**
 * A pull-only credential for a Kubernetes pull secret: /token takes it as the
 * user's Basic password (or the password grant's) and grants pull scopes only,
 * never a refresh token. It ends with the password (the stamp) and after
 * refreshTtl, like a refresh token; the password itself never goes in a Secret.
 */
export async function mintPullToken(
  ring: KeyRing, s: TokenSettings, subject: string, stamp: string, now = Date.now(),
): Promise<{ token: string; expiresAt: string }> {
  const iat = Math.floor(now / 1000);
  const token = await mintStamped(ring, s, pullAudience(s.service), subject, stamp, { use: 'pull' }, iat);
  return { token, expiresAt: new Date((iat + s.refreshTtl) * 1000).toISOString() };
}

export function verifyPullToken(ring: KeyRing, s: TokenSettings, token: string): Promise<{ subject: string; stamp: string }> {
  return verifyStamped(ring, s, token, pullAudience(s.service), 'pull token', 'pull');
}
