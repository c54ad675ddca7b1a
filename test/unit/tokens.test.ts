import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SignJWT, UnsecuredJWT, base64url, exportJWK, calculateJwkThumbprint, type JWTHeaderParameters } from 'jose';
import { initCerts } from '../../src/certs/init.js';
import { rulesPolicy } from '../../src/auth/policy.js';
import { grantFor } from '../../src/token/grant.js';
import { certPathFor, ensureSigningKey, loadKeyRing } from '../../src/token/keyring.js';
import { claimsCover, parseScope } from '../../src/registry/scope.js';
import { mintAccessToken, mintRefreshToken, TokenError, verifyAccessToken, verifyRefreshToken } from '../../src/token/tokens.js';
import { tempDir } from '../helpers/tmp.js';

const dir = await tempDir();
await initCerts({ dir, hosts: ['registry.test'], caDays: 30, days: 10, nameConstraints: true, force: false, newCa: false }, { now: new Date(), creator: 't@h', warn: () => {} });
const keyPath = join(dir, 'token.key');
assert.equal(await ensureSigningKey(keyPath, dir), true);
assert.equal(await ensureSigningKey(keyPath, dir), false, 'kept when present');
const ring = await loadKeyRing(keyPath);
const s = { service: 'registry.test:5443', issuer: 'registry-gateway', ttl: 300, refreshTtl: 3600 };
const pull = [{ type: 'repository' as const, name: 'app', actions: ['pull' as const] }];

test('scopes: grammar, host ports in names, classes, wildcards and junk', () => {
  assert.deepEqual(parseScope('repository:team/app:pull,push'), { type: 'repository', name: 'team/app', actions: ['pull', 'push'] });
  assert.deepEqual(parseScope('repository(plugin):app:pull'), { type: 'repository', name: 'app', actions: ['pull'] });
  assert.deepEqual(parseScope('repository:app:*'), { type: 'repository', name: 'app', actions: ['*'] });
  assert.deepEqual(parseScope('registry:catalog:*'), { type: 'registry', name: 'catalog', actions: ['*'] });
  for (const bad of ['repository:app', 'repository:App:pull', 'repository:app:fly', 'repository:a/*:pull', 'registry:other:*', 'image:app:pull', 'repository:host:5000/app:pull', '']) assert.equal(parseScope(bad), undefined, bad);
});

test('grant = asked ∩ rules; asking for more is not an error', () => {
  const policy = rulesPolicy([
    { account: 'admin', name: '**', actions: ['*'] },
    { account: '*', name: '${account}/**', actions: ['pull', 'push'] },
    { account: '', name: 'public/**', actions: ['pull'] },
  ]);
  const ask = (account: string, ...scopes: string[]) => grantFor(policy, account, scopes.map((x) => parseScope(x)!));
  assert.deepEqual(ask('bob', 'repository:bob/x:pull,push,delete'), [{ type: 'repository', name: 'bob/x', actions: ['pull', 'push'] }]);
  assert.deepEqual(ask('bob', 'repository:alice/x:pull'), []);
  assert.deepEqual(ask('', 'repository:public/x:pull,push'), [{ type: 'repository', name: 'public/x', actions: ['pull'] }]);
  assert.deepEqual(ask('admin', 'repository:a:*'), [{ type: 'repository', name: 'a', actions: ['pull', 'push', 'delete'] }]);
  assert.deepEqual(ask('bob', 'repository:bob/x:pull', 'repository:bob/x:push'), [{ type: 'repository', name: 'bob/x', actions: ['pull', 'push'] }]);
  assert.deepEqual(ask('admin', 'registry:catalog:*'), [{ type: 'registry', name: 'catalog', actions: ['*'] }]);
});

test('claims cover access per action; "*" in a token covers any action', () => {
  assert.ok(claimsCover([{ type: 'repository', name: 'a', actions: ['pull', 'push'] }], { type: 'repository', name: 'a', actions: ['pull', 'push'] }));
  assert.ok(!claimsCover([{ type: 'repository', name: 'a', actions: ['pull'] }], { type: 'repository', name: 'a', actions: ['pull', 'push'] }));
  assert.ok(!claimsCover([{ type: 'repository', name: 'a', actions: ['pull'] }], { type: 'repository', name: 'b', actions: ['pull'] }));
  assert.ok(claimsCover([{ type: 'repository', name: 'a', actions: ['*'] }], { type: 'repository', name: 'a', actions: ['delete'] }));
});

test('access tokens: distribution claims, string aud, ES256 header with kid and x5c chaining to the CA', async () => {
  const { token, expiresIn } = await mintAccessToken(ring, s, 'bob', pull);
  assert.equal(expiresIn, 300);
  const [h, p] = token.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()));
  assert.deepEqual([h.alg, h.typ, typeof h.kid, h.x5c.length], ['ES256', 'JWT', 'string', 1]);
  assert.equal(p.aud, 'registry.test:5443');
  assert.equal(p.sub, 'bob');
  assert.equal(p.nbf, p.iat - 10);
  assert.equal(p.exp, p.iat + 300);
  assert.match(p.jti, /^[A-Za-z0-9_-]{22}$/);
  assert.deepEqual(p.access, [{ type: 'repository', name: 'app', actions: ['pull'] }]);
  const leaf = new X509Certificate(Buffer.from(h.x5c[0], 'base64'));
  const ca = new X509Certificate(await readFile(join(dir, 'ca.crt')));
  assert.ok(leaf.verify(ca.publicKey) && leaf.checkIssued(ca));
  assert.deepEqual((await verifyAccessToken(ring, s, token)).access, p.access);
});

async function refused(token: string, why: string): Promise<void> {
  await assert.rejects(verifyAccessToken(ring, s, token), (e: unknown) => e instanceof TokenError && e.code === 'invalid_token', why);
}

test('refused: expired, tampered, alg none, HS256 with the public key, wrong aud, wrong iss, foreign key, refresh token', async () => {
  const long = Date.now() - 3600_000;
  await refused((await mintAccessToken(ring, s, 'bob', pull, 300, long)).token, 'expired');
  const good = (await mintAccessToken(ring, s, 'bob', pull)).token;
  const [h, p, sig] = good.split('.');
  const payload = JSON.parse(Buffer.from(p!, 'base64url').toString());
  const forged = base64url.encode(JSON.stringify({ ...payload, access: [{ type: 'repository', name: 'app', actions: ['*'] }] }));
  await refused(`${h}.${forged}.${sig}`, 'tampered');
  await refused(new UnsecuredJWT(payload).encode(), 'alg none');
  // HS256 "signed" with our public key as the secret: the classic confusion.
  const hsHeader = base64url.encode(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: ring.current.kid }));
  const pem = createPublicKey(ring.current.privateKey).export({ type: 'spki', format: 'pem' });
  const hsSig = createHmac('sha256', pem).update(`${hsHeader}.${p}`).digest('base64url');
  await refused(`${hsHeader}.${p}.${hsSig}`, 'HS256 with the public key');
  await refused((await mintAccessToken(ring, { ...s, service: 'other:5443' }, 'bob', pull)).token, 'wrong aud');
  await refused((await mintAccessToken(ring, { ...s, issuer: 'someone-else' }, 'bob', pull)).token, 'wrong iss');
  const foreign = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  await refused(await new SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: ring.current.kid }).sign(foreign), 'foreign key with our kid');
  await refused(await new SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'JWT', jwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' } }).sign(foreign), 'embedded jwk');
  await refused(await mintRefreshToken(ring, s, 'bob', 'stamp'), 'a refresh token is not an access token');
  await refused('not.a.token', 'garbage');
});

test('a token never selects a key its header carries: jwk, jku, x5c, x5u, with and without our kid (CVE-2025-24976)', async () => {
  const payload = JSON.parse(Buffer.from((await mintAccessToken(ring, s, 'bob', pull)).token.split('.')[1]!, 'base64url').toString());
  const forged = { ...payload, sub: 'admin', access: [{ type: 'repository', name: 'app', actions: ['*'] }] };
  const ours = ring.current.kid;
  // A stranger's key, and a worse one: a token signer certified by our own CA
  // (another gateway's, or a retired key dropped from verifyKeys), whose x5c
  // chains to the CA a registry's rootcertbundle trusts.
  const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const strangerJwk = await exportJWK(stranger.publicKey);
  const strangerKid = await calculateJwkThumbprint(strangerJwk);
  const certifiedPath = join(dir, 'other-gateway.key');
  await ensureSigningKey(certifiedPath, dir);
  const certified = await loadKeyRing(certifiedPath);
  const certifiedJwk = await exportJWK(createPublicKey(certified.current.privateKey));
  const own = await new SignJWT(forged).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: certified.current.kid })
    .sign(certified.current.privateKey);
  // Well formed: only the choice of key refuses the forged tokens below.
  assert.equal((await verifyAccessToken(certified, s, own)).subject, 'admin');
  const cases: [string, Omit<JWTHeaderParameters, 'alg'>, typeof stranger.privateKey][] = [];
  for (const [who, key, jwk, kid, x5c] of [
    ['stranger', stranger.privateKey, strangerJwk, strangerKid, undefined],
    ['CA-certified', certified.current.privateKey, certifiedJwk, certified.current.kid, certified.current.x5c],
  ] as const) {
    for (const kid2 of [undefined, kid, ours]) {
      const withKid = kid2 ? { kid: kid2 } : {};
      const label = `${who} key, kid ${kid2 === ours ? 'ours' : kid2 ? 'its own' : 'absent'}`;
      cases.push([`jwk, ${label}`, { jwk: { ...jwk, ...withKid }, ...withKid }, key]);
      cases.push([`jku, ${label}`, { jku: 'https://attacker.example/jwks.json', ...withKid }, key]);
      cases.push([`x5u, ${label}`, { x5u: 'https://attacker.example/signer.pem', ...withKid }, key]);
      if (x5c) cases.push([`x5c, ${label}`, { x5c: [...x5c], ...withKid }, key]);
    }
  }
  // And our own public key in the header of a token the stranger signed.
  const ourJwk = await exportJWK(createPublicKey(ring.current.privateKey));
  cases.push(['jwk of our key, kid ours', { jwk: ourJwk, kid: ours }, stranger.privateKey]);
  assert.equal(cases.length, 22);
  for (const [label, header, key] of cases) {
    await refused(await new SignJWT(forged).setProtectedHeader({ alg: 'ES256', typ: 'JWT', ...header }).sign(key), label);
  }
});

test('refresh tokens verify only as refresh tokens; rotation keeps old keys verifying', async () => {
  const refresh = await mintRefreshToken(ring, s, 'bob', 'stamp-1');
  assert.deepEqual(await verifyRefreshToken(ring, s, refresh), { subject: 'bob', stamp: 'stamp-1' });
  await assert.rejects(verifyRefreshToken(ring, s, (await mintAccessToken(ring, s, 'bob', pull)).token), TokenError);
  const oldToken = (await mintAccessToken(ring, s, 'bob', pull)).token;
  const next = join(dir, 'token-next.key');
  await ensureSigningKey(next, dir);
  const rotated = await loadKeyRing(next, [certPathFor(keyPath)]);
  assert.equal(rotated.jwks.keys.length, 2);
  assert.equal((await verifyAccessToken(rotated, s, oldToken)).subject, 'bob', 'old tokens verify until they expire');
  const newOnly = await loadKeyRing(next);
  await assert.rejects(verifyAccessToken(newOnly, s, oldToken), TokenError, 'once the old certificate is dropped, they stop');
});
