// Web UI sessions: a cookie holding a signed, expiring token (jose, HS256)
// that names the user and a stamp of the user's password hash, never the
// password. Stateless, so every replica accepts it: the key is derived (HKDF)
// from the server's TLS private key, which every replica behind one name
// holds. A session ends by itself (30 minutes idle, 8 hours in all), on
// logout (its id is revoked: revocations.ts), and when the password changes
// or the user goes (the stamp no longer matches).
import { createPrivateKey, hkdfSync, randomBytes } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import type { Revocations } from './revocations.js';

export const SESSION_COOKIE = '__Host-gateway-session';
export const IDLE_S = 30 * 60;
export const ABSOLUTE_S = 8 * 60 * 60;
// A session is re-signed (its idle expiry pushed on) at most this often: not on every request.
const RENEW_AFTER_S = 60;
// Replicas' clocks drift a little.
const LEEWAY_S = 30;
const ISSUER = 'registry-gateway';
const AUDIENCE = 'registry-gateway-ui';
const MAX_TOKEN = 4096;

/**
 * The signing key: HKDF-SHA256 of the TLS private key (PKCS#8 DER), for this
 * use only. Anyone with server.key could sign sessions, but they could also
 * be the gateway; nobody else can.
 */
export function sessionKey(privateKeyPem: string | Buffer): Uint8Array {
  const der = createPrivateKey(privateKeyPem).export({ format: 'der', type: 'pkcs8' });
  return new Uint8Array(hkdfSync('sha256', der, 'registry-gateway web UI', 'session HS256 v1', 32));
}

export interface Session {
  user: string;
  /** The session's id: what logout revokes. */
  id: string;
  /** When it ends unless used (ms). */
  expiresAt: number;
  /** When it ends whatever happens (ms): the login plus ABSOLUTE_S. */
  endsAt: number;
  issuedAt: number;
}

export interface Issued {
  token: string;
  session: Session;
}

export interface SessionOptions {
  /** The current key first, then any previous one (the server key was renewed: sessions signed before still verify). */
  keys: () => readonly Uint8Array[];
  /** The user's current password stamp, undefined when the user is gone. */
  stamp: (user: string) => string | undefined;
  revocations: Revocations;
  idleS?: number;
  absoluteS?: number;
  now?: () => number;
}

export interface Sessions {
  /** A new session for a user who just logged in. */
  start(user: string): Promise<Issued>;
  /** The session a token carries, or undefined: forged, expired, revoked, or the password changed. */
  check(token: string): Promise<Session | undefined>;
  /** Sliding expiry: a fresh token for a session in use (undefined when the current one is recent enough). */
  renew(session: Session): Promise<Issued | undefined>;
  /** Logout: the session is refused from now on, even if its cookie is replayed. */
  end(session: Session): Promise<void>;
}

export function createSessions(opts: SessionOptions): Sessions {
  const idle = opts.idleS ?? IDLE_S;
  const absolute = opts.absoluteS ?? ABSOLUTE_S;
  const now = opts.now ?? Date.now;

  async function sign(user: string, stamp: string, id: string, endsAt: number): Promise<Issued> {
    const iat = Math.floor(now() / 1000);
    const exp = Math.min(iat + idle, endsAt);
    const token = await new SignJWT({ pwd: stamp, end: endsAt })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(user)
      .setJti(id)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(opts.keys()[0]!);
    return { token, session: { user, id, issuedAt: iat * 1000, expiresAt: exp * 1000, endsAt: endsAt * 1000 } };
  }

  return {
    async start(user) {
      const stamp = opts.stamp(user);
      if (stamp === undefined) throw new Error(`no user '${user}'`);
      return sign(user, stamp, randomBytes(16).toString('base64url'), Math.floor(now() / 1000) + absolute);
    },
    async check(token) {
      if (token.length > MAX_TOKEN) return undefined;
      for (const key of opts.keys()) {
        let payload;
        try {
          ({ payload } = await jwtVerify(token, key, {
            algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE, typ: 'JWT', clockTolerance: LEEWAY_S, currentDate: new Date(now()),
          }));
        } catch (err) {
          // Signed with another key: try the previous one; anything else (expired, malformed) is no session.
          if (err instanceof joseErrors.JWSSignatureVerificationFailed) continue;
          return undefined;
        }
        const { sub, pwd, jti, end, iat, exp } = payload;
        if (typeof sub !== 'string' || sub === '' || typeof pwd !== 'string' || typeof jti !== 'string' || typeof end !== 'number'
          || typeof iat !== 'number' || typeof exp !== 'number') return undefined;
        if (end * 1000 <= now() - LEEWAY_S * 1000 || exp > end) return undefined;
        if (opts.stamp(sub) !== pwd) return undefined;
        if (await opts.revocations.revoked(jti, iat * 1000)) return undefined;
        return { user: sub, id: jti, issuedAt: iat * 1000, expiresAt: exp * 1000, endsAt: end * 1000 };
      }
      return undefined;
    },
    async renew(session) {
      if (now() - session.issuedAt < RENEW_AFTER_S * 1000) return undefined;
      // The last minutes before the absolute end: nothing to push on.
      if (session.expiresAt >= session.endsAt) return undefined;
      const stamp = opts.stamp(session.user);
      if (stamp === undefined) return undefined;
      return sign(session.user, stamp, session.id, Math.floor(session.endsAt / 1000));
    },
    end: (session) => opts.revocations.revoke(session.id, session.endsAt + LEEWAY_S * 1000),
  };
}

/** Set-Cookie for a session: HttpOnly (no script reads it), Secure, SameSite=Strict, and the __Host- prefix's Path=/ without Domain. */
export function sessionCookie(token: string, session: Session, now = Date.now()): string {
  const maxAge = Math.max(0, Math.floor((session.expiresAt - now) / 1000));
  return `${SESSION_COOKIE}=${token}; Max-Age=${maxAge}; Path=/; Secure; HttpOnly; SameSite=Strict`;
}

/** Set-Cookie that removes the session cookie. */
export const clearedCookie = `${SESSION_COOKIE}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Strict`;

/** The session cookie's value from a Cookie header, if exactly one was sent. */
export function readSessionCookie(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const values = header.split(';').map((p) => p.trim()).filter((p) => p.startsWith(`${SESSION_COOKIE}=`))
    .map((p) => p.slice(SESSION_COOKIE.length + 1));
  // A browser sends one (the __Host- prefix lets no other site set it): two are not to be picked from.
  return values.length === 1 && values[0] !== '' ? values[0] : undefined;
}
