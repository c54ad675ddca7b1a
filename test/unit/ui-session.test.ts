// Web UI sessions (src/ui/session.ts): the signed cookie token's round trip,
// its idle and absolute expiry, tampering, the password stamp, logout's
// revocation (in this process, and shared through a real redis-server), and
// the key derived from the TLS private key.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { Writable } from 'node:stream';
import { SignJWT, UnsecuredJWT } from 'jose';
import {
  ABSOLUTE_S, clearedCookie, createSessions, IDLE_S, readSessionCookie, SESSION_COOKIE, sessionCookie, sessionKey,
} from '../../src/ui/session.js';
import { localRevocations, sharedRevocations } from '../../src/ui/revocations.js';
import { connectShared, type SharedState } from '../../src/shared/redis.js';
import { createLogger } from '../../src/util/log.js';
import { startRedis } from '../helpers/redis.js';
import { tempDir } from '../helpers/tmp.js';

const pem = (type: 'ec' | 'rsa') => (type === 'ec'
  ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 }))
  .privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
const serverKey = pem('ec');
const key = sessionKey(serverKey);

function setup(opts: { keys?: Uint8Array[]; stamps?: Map<string, string> } = {}) {
  let clock = Date.parse('2026-03-01T12:00:00Z');
  const stamps = opts.stamps ?? new Map([['alice', 'stamp-1'], ['bob', 'stamp-b']]);
  const revocations = localRevocations(() => clock);
  let keys = opts.keys ?? [key];
  const sessions = createSessions({ keys: () => keys, stamp: (u) => stamps.get(u), revocations, now: () => clock });
  return {
    sessions, stamps, revocations,
    advance: (s: number) => (clock += s * 1000),
    now: () => clock,
    setKeys: (k: Uint8Array[]) => (keys = k),
  };
}

test('the key: HKDF of the TLS private key, the same on every replica with that key, another for another key', () => {
  assert.equal(key.length, 32);
  assert.deepEqual(sessionKey(serverKey), key, 'same server.key, same session key: replicas agree');
  // The same key in another PEM form (SEC1 for EC) derives the same.
  const sec1 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const asPkcs8 = sec1.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const asSec1 = sec1.privateKey.export({ format: 'pem', type: 'sec1' }).toString();
  assert.deepEqual(sessionKey(asPkcs8), sessionKey(asSec1));
  assert.notDeepEqual(sessionKey(pem('ec')), key);
  assert.notDeepEqual(sessionKey(pem('rsa')), key);
  assert.throws(() => sessionKey('not a key'));
});

test('round trip: the token names the user and a session id, and holds no password', async () => {
  const { sessions, now } = setup();
  const { token, session } = await sessions.start('alice');
  assert.equal(session.user, 'alice');
  assert.equal(session.expiresAt, now() + IDLE_S * 1000);
  assert.equal(session.endsAt, now() + ABSOLUTE_S * 1000);
  const checked = await sessions.check(token);
  assert.deepEqual(checked, session);
  const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
  assert.deepEqual(Object.keys(payload).sort(), ['aud', 'end', 'exp', 'iat', 'iss', 'jti', 'pwd', 'sub']);
  assert.equal(payload.pwd, 'stamp-1', 'a stamp of the hash, not the password');
  const other = await sessions.start('alice');
  assert.notEqual(other.session.id, session.id, 'each login its own session');
  await assert.rejects(sessions.start('nobody'), /no user/);
});

test('expiry: idle after 30 minutes unless renewed; renewing slides it; 8 hours in all whatever happens', async () => {
  const { sessions, advance } = setup();
  const { token, session } = await sessions.start('alice');
  assert.equal(await sessions.renew(session), undefined, 'not re-signed on every request');
  advance(IDLE_S + 31); // past the expiry and the 30 s leeway
  assert.equal(await sessions.check(token), undefined, 'idle too long');

  const fresh = await sessions.start('alice');
  let current = fresh;
  // Used every 20 minutes: renewed each time, alive until the absolute end.
  for (let t = 0; t < ABSOLUTE_S - 20 * 60; t += 20 * 60) {
    advance(20 * 60);
    const checked = await sessions.check(current.token);
    assert.ok(checked, `alive at ${t / 60 + 20} min`);
    const renewed = await sessions.renew(checked);
    if (renewed) {
      assert.equal(renewed.session.id, fresh.session.id, 'the same session');
      assert.ok(renewed.session.expiresAt <= fresh.session.endsAt, 'never past the absolute end');
      current = renewed;
    }
  }
  advance(20 * 60 + 31);
  assert.equal(await sessions.check(current.token), undefined, 'past 8 hours: over, renewed or not');
});

test('tampering: another user, another key, alg none, a token of another kind, junk', async () => {
  const { sessions } = setup();
  const { token } = await sessions.start('alice');
  const [h, p, sig] = token.split('.');
  const payload = JSON.parse(Buffer.from(p!, 'base64url').toString());
  const forged = Buffer.from(JSON.stringify({ ...payload, sub: 'bob', pwd: 'stamp-b' })).toString('base64url');
  assert.equal(await sessions.check(`${h}.${forged}.${sig}`), undefined, 'payload changed, signature kept');
  assert.equal(await sessions.check(`${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`), undefined, 'signature changed');
  const otherKey = await new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(sessionKey(pem('ec')));
  assert.equal(await sessions.check(otherKey), undefined, 'signed with another server key');
  const none = new UnsecuredJWT(payload).encode();
  assert.equal(await sessions.check(none), undefined, 'alg none');
  const noJti = await new SignJWT({ ...payload, jti: undefined }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(key);
  assert.equal(await sessions.check(noJti), undefined, 'claims missing');
  const audience = await new SignJWT({ ...payload, aud: 'registry.test:5443' }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(key);
  assert.equal(await sessions.check(audience), undefined, 'another audience');
  const pastEnd = await new SignJWT({ ...payload, exp: payload.end + 3600 }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(key);
  assert.equal(await sessions.check(pastEnd), undefined, 'expiry past the absolute end');
  for (const junk of ['', 'x', 'a.b.c', 'a'.repeat(5000)]) assert.equal(await sessions.check(junk), undefined, junk.slice(0, 10));
  // Still the original works.
  assert.ok(await sessions.check(token));
});

test('the password stamp: a changed password or a removed user ends the session', async () => {
  const { sessions, stamps } = setup();
  const a = await sessions.start('alice');
  const b = await sessions.start('bob');
  stamps.set('alice', 'stamp-2');
  assert.equal(await sessions.check(a.token), undefined, 'password changed');
  stamps.delete('bob');
  assert.equal(await sessions.check(b.token), undefined, 'user removed');
  assert.equal(await sessions.renew(b.session), undefined, 'nor renewed');
  stamps.set('alice', 'stamp-1');
  assert.ok(await sessions.check(a.token), 'the same hash again: the stamp matches');
});

test('logout revokes the session id: the token is refused even when replayed, other sessions live on', async () => {
  const { sessions, revocations, advance } = setup();
  const a = await sessions.start('alice');
  const b = await sessions.start('alice');
  advance(120);
  const renewed = (await sessions.renew((await sessions.check(a.token))!))!;
  await sessions.end(a.session);
  assert.equal(await sessions.check(a.token), undefined);
  assert.equal(await sessions.check(renewed.token), undefined, 'every token of the session, renewed ones too');
  assert.ok(await sessions.check(b.token), 'another login of the same user');
  assert.equal(revocations.size, 1);
  advance(ABSOLUTE_S + 60);
  assert.equal(await revocations.revoked(a.session.id), false, 'forgotten once the session would have ended anyway');
});

test('a renewed server key: sessions signed with the one before still verify; without it they do not', async () => {
  const { sessions, setKeys } = setup();
  const old = await sessions.start('alice');
  const next = sessionKey(pem('ec'));
  setKeys([next, key]);
  assert.ok(await sessions.check(old.token), 'the previous key verifies');
  const fresh = await sessions.start('alice');
  setKeys([next]);
  assert.equal(await sessions.check(old.token), undefined);
  assert.ok(await sessions.check(fresh.token), 'new sessions are signed with the current key');
});

test('the cookie: __Host- prefix, HttpOnly, Secure, SameSite=Strict, Path=/, no Domain; one value read', async () => {
  const { sessions, now } = setup();
  const { token, session } = await sessions.start('alice');
  const cookie = sessionCookie(token, session, now());
  const parts = cookie.split('; ');
  assert.equal(parts[0], `${SESSION_COOKIE}=${token}`);
  assert.ok(SESSION_COOKIE.startsWith('__Host-'));
  for (const attr of ['HttpOnly', 'Secure', 'SameSite=Strict', 'Path=/', `Max-Age=${IDLE_S}`]) assert.ok(parts.includes(attr), attr);
  assert.ok(!/domain=/i.test(cookie));
  assert.match(clearedCookie, /^__Host-gateway-session=; Max-Age=0; Path=\/; Secure; HttpOnly; SameSite=Strict$/);
  assert.equal(readSessionCookie(`a=1; ${SESSION_COOKIE}=${token}; b=2`), token);
  assert.equal(readSessionCookie(`${SESSION_COOKIE}=x; ${SESSION_COOKIE}=y`), undefined, 'two: neither');
  assert.equal(readSessionCookie(`${SESSION_COOKIE}=`), undefined);
  assert.equal(readSessionCookie('other=1'), undefined);
  assert.equal(readSessionCookie(undefined), undefined);
});

test('logouts shared through Redis: another replica refuses the session; Redis gone, each keeps its own', async () => {
  const work = await tempDir('gw-ui-redis-');
  const redis = await startRedis(work);
  const quiet = createLogger(new Writable({ write: (_c, _e, done) => done() }));
  const opened: SharedState[] = [];
  after(async () => {
    for (const s of opened) await s.close();
    await redis.stop();
  });
  const replica = async () => {
    const shared = await connectShared({ url: redis.url, prefix: 'ui-test:', timeout: 250 }, quiet);
    opened.push(shared);
    const revocations = sharedRevocations(shared, localRevocations());
    return createSessions({ keys: () => [key], stamp: () => 'stamp-1', revocations });
  };
  const [one, two] = [await replica(), await replica()];
  const { token, session } = await one.start('alice');
  assert.ok(await two.check(token), 'the other replica accepts the cookie (same server.key)');
  await one.end(session);
  assert.equal(await two.check(token), undefined, 'logged out on one replica: refused on the other');
  const keys = (await opened[0]!.client.keys('ui-test:ui-revoked:*'));
  assert.equal(keys.length, 1);
  assert.ok(!keys[0]!.includes(session.id), 'the id is hashed in Redis');
  const ttl = await opened[0]!.client.pttl(keys[0]!);
  assert.ok(ttl > (ABSOLUTE_S - 60) * 1000 && ttl <= (ABSOLUTE_S + 60) * 1000, `kept until the session would end (${ttl} ms)`);

  const other = await one.start('alice');
  await redis.kill();
  await one.end(other.session);
  assert.equal(await one.check(other.token), undefined, 'Redis down: this process still refuses it');
  assert.ok(await two.check(other.token), 'and the other replica cannot know (said in the README)');
});
