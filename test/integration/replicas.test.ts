// Three `gateway serve` processes on loopback sharing one redis-server
// (Debian's) and one docker-registry, requests spread round-robin across
// them, behave as one gateway (README, Scaling out): failed logins counted
// once for all, a password change and a removed user seen by all, tokens
// and refresh tokens honoured by all, a rotated signing key followed by all
// without a signal, an upload continued across replicas, and Redis killed
// and started again in the middle.
//
// REPLICAS_WITHOUT_REDIS=1 runs the same with `redis:` unset, each process
// counting alone: the throttling tests then fail, as they must.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { gateway as gatewayCli } from '../helpers/exec.js';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { request, type Reply } from '../helpers/https.js';
import { startRegistry } from '../helpers/registry.js';
import { startRedis } from '../helpers/redis.js';
import { tempDir } from '../helpers/tmp.js';
import { DOWN_MESSAGE, REDIS_UNREACHABLE, UP_MESSAGE } from '../../src/shared/redis.js';

const withRedis = process.env.REPLICAS_WITHOUT_REDIS !== '1';
const work = await tempDir('gw-replicas-');
const certs = join(work, 'certs');
const htpasswd = join(work, 'htpasswd');
assert.equal((await gatewayCli(['certs', 'init', '--dir', certs, '--host', 'localhost', '--host', '127.0.0.1'])).code, 0);
const PASSWORDS: Record<string, string> = { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw', dave: 'dave-pw' };
for (const [user, pw] of Object.entries(PASSWORDS)) {
  assert.equal((await gatewayCli(['users', 'add', user, '--password-stdin', '--min-length', '1', '--file', htpasswd, '--cost', '4'], { input: pw })).code, 0);
}
const ca = await readFile(join(certs, 'ca.crt'), 'utf8');
const registry = await startRegistry(work, { storage: join(work, 'storage') });
const redis = await startRedis(work);
const stops: (() => Promise<unknown>)[] = [() => registry.stop(), () => redis.stop()];
after(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {});
});

const SERVICE = 'registry.replicas.test';
const tls = { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') };
const access = [{ account: '*', name: '${account}/**', actions: ['pull', 'push'] }];

async function replicas(mode: 'htpasswd' | 'token', prefix: string): Promise<GatewayProcess[]> {
  const config = {
    upstream: registry.url, tls, access,
    ...(withRedis ? { redis: { url: redis.url, prefix } } : {}),
    auth: { mode, htpasswd, ...(mode === 'token' ? { token: { service: SERVICE, signingKey: join(certs, 'token.key') } } : {}) },
  };
  // The first creates the token key (as a pod's Secret would hold it) before the others start.
  const first = await startGateway(work, config);
  const rest = await Promise.all([startGateway(work, config), startGateway(work, config)]);
  const all = [first, ...rest];
  stops.push(...all.map((g) => () => g.stop()));
  return all;
}

const gws = await replicas('htpasswd', 'basic:');
const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
/** GET /v2/ on replica i (round-robin) from a given loopback address. */
const v2 = (i: number, user: string, password: string, from: string): Promise<Reply> =>
  request(`${gws[i % 3]!.url}/v2/`, { ca, headers: basic(user, password), localAddress: from });

async function within<T>(ms: number, what: string, attempt: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await attempt();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('ten wrong passwords spread over the three are throttled on all; a correct login from a clean address passes on all', async () => {
  for (let i = 0; i < 10; i++) assert.equal((await v2(i, 'bob', `wrong-${i}`, '127.0.0.11')).status, 401, `try ${i + 1}`);
  for (let i = 0; i < 3; i++) {
    const r = await v2(i, 'bob', 'wrong-again', '127.0.0.11');
    assert.equal(r.status, 429, `the 11th try at replica ${i + 1}`);
    assert.ok(Number(r.headers['retry-after']) > 1, 'the rest of the window');
    assert.equal((await v2(i, 'bob', 'bob-pw', '127.0.0.11')).status, 429, 'the address is blocked, whatever the password');
  }
  for (let i = 0; i < 3; i++) assert.equal((await v2(i, 'bob', 'bob-pw', '127.0.0.12')).status, 200, `clean address, replica ${i + 1}`);
  // Sent at once: 30 guesses, 10 to each replica, get at most the 10 tries of one gateway (30 if each counted alone).
  const burst = await Promise.all(Array.from({ length: 30 }, (_, i) => v2(i, 'carol', `burst-${i}`, '127.0.0.13')));
  const checked = burst.filter((r) => r.status === 401).length;
  assert.ok(checked > 0 && checked <= 10, `${burst.map((r) => r.status).join(' ')}`);
  assert.equal(burst.filter((r) => r.status === 429).length, 30 - checked);
});

test('a password change made once, and a removed user, are seen by all replicas within seconds', async () => {
  const reloadsBefore = gws.map((g) => g.entries().length);
  const t0 = Date.now();
  assert.equal((await gatewayCli(['users', 'passwd', 'bob', '--password-stdin', '--min-length', '1', '--file', htpasswd, '--cost', '4'], { input: 'bob-new' })).code, 0);
  await Promise.all(gws.map((g, i) => g.waitFor((e) => e.msg === 'htpasswd reloaded', reloadsBefore[i], 10_000)));
  const seen = Date.now() - t0;
  assert.ok(seen < 5000, `${seen} ms`);
  // From addresses with no failures: bob's old password (cached on all three above) is refused, the new one passes.
  for (let i = 0; i < 3; i++) {
    assert.equal((await v2(i, 'bob', 'bob-pw', '127.0.0.21')).status, 401, `old password, replica ${i + 1}`);
    assert.equal((await v2(i, 'bob', 'bob-new', '127.0.0.22')).status, 200, `new password, replica ${i + 1}`);
  }
  for (let i = 0; i < 3; i++) assert.equal((await v2(i, 'dave', 'dave-pw', '127.0.0.23')).status, 200);
  const marks = gws.map((g) => g.entries().length);
  assert.equal((await gatewayCli(['users', 'remove', 'dave', '--file', htpasswd])).code, 0);
  await Promise.all(gws.map((g, i) => g.waitFor((e) => e.msg === 'htpasswd reloaded', marks[i], 10_000)));
  for (let i = 0; i < 3; i++) assert.equal((await v2(i, 'dave', 'dave-pw', '127.0.0.23')).status, 401, `dave removed, replica ${i + 1}`);
});

test('an upload started through replica 1 (POST), continued through 2 (PATCH) and finished through 3 (PUT) succeeds', async () => {
  const auth = basic('alice', 'alice-pw');
  const blob = Buffer.from('one layer, three replicas\n'.repeat(1000));
  const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
  const start = await request(`${gws[0]!.url}/v2/alice/app/blobs/uploads/`, { ca, method: 'POST', headers: auth });
  assert.equal(start.status, 202, start.body.toString());
  const pathOf = (location: string) => { const u = new URL(location, gws[0]!.url); return `${u.pathname}${u.search}`; };
  const patch = await request(`${gws[1]!.url}${pathOf(start.headers.location!)}`, {
    ca, method: 'PATCH', headers: { ...auth, 'content-type': 'application/octet-stream', 'content-range': `0-${blob.length - 1}` }, body: blob,
  });
  assert.equal(patch.status, 202, patch.body.toString());
  const put = new URL(pathOf(patch.headers.location!), gws[2]!.url);
  put.searchParams.set('digest', digest);
  const done = await request(put.toString(), { ca, method: 'PUT', headers: { ...auth, 'content-length': '0' } });
  assert.equal(done.status, 201, done.body.toString());
  for (const g of gws) {
    const head = await request(`${g.url}/v2/alice/app/blobs/${digest}`, { ca, method: 'HEAD', headers: auth });
    assert.equal(head.status, 200);
  }
});

test('token mode: tokens and refresh tokens from one replica are honoured by all; a rotated and retired key is followed by all without SIGHUP', async () => {
  const tgw = await replicas('token', 'token:');
  const form = (fields: Record<string, string>) => ({ ca, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });
  const token = async (g: GatewayProcess) => {
    const r = await request(`${g.url}/token?service=${SERVICE}&scope=repository:alice/app:pull,push&offline_token=true&client_id=test`, { ca, headers: basic('alice', 'alice-pw') });
    assert.equal(r.status, 200, r.body.toString());
    return r.json() as { token: string; refresh_token: string };
  };
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
  // 200, or 404 where the repository has no tags: authorized either way (401 when the token is not).
  const status = async (g: GatewayProcess, t: string) => {
    const s = (await request(`${g.url}/v2/alice/app/tags/list`, { ca, headers: bearer(t) })).status;
    return s === 404 ? 200 : s;
  };
  const kids = async (g: GatewayProcess) => ((await request(`${g.url}/token/jwks.json`, { ca })).json().keys as { kid: string }[]).map((k) => k.kid).sort().join();

  const issued = await token(tgw[0]!);
  for (const g of tgw) assert.equal(await status(g, issued.token), 200, 'replica 1\'s token');
  const fromSecond = await token(tgw[1]!);
  const refreshed = await request(`${tgw[2]!.url}/token`, form({ grant_type: 'refresh_token', refresh_token: fromSecond.refresh_token, service: SERVICE, client_id: 'test', scope: 'repository:alice/app:pull' }));
  assert.equal(refreshed.status, 200, 'replica 2\'s refresh token at replica 3');
  assert.equal(await status(tgw[0]!, refreshed.json().token), 200);
  const before = await kids(tgw[0]!);
  for (const g of tgw) assert.equal(await kids(g), before, 'one key ring');

  // Rotated once, on the shared files: each replica follows by itself.
  const marks = tgw.map((g) => g.entries().length);
  const configFile = join(work, `gateway-${tgw[0]!.port}.yaml`);
  const rotated = await gatewayCli(['token', 'rotate', '--config', configFile]);
  assert.equal(rotated.code, 0, rotated.stderr);
  await Promise.all(tgw.map((g, i) => g.waitFor((e) => e.msg === 'token keys changed on disk: reloaded' && e.keys === 2, marks[i], 10_000)));
  const ring = await kids(tgw[0]!);
  assert.notEqual(ring, before);
  for (const g of tgw) assert.equal(await kids(g), ring, 'the same two keys on every replica');
  for (const g of tgw) assert.equal(await status(g, issued.token), 200, 'the retired key still verifies what it signed');
  const fresh = await token(tgw[1]!);
  for (const g of tgw) assert.equal(await status(g, fresh.token), 200, 'the new key verifies on all');

  // The retired key deleted: its tokens and refresh tokens are refused on all within seconds.
  const t0 = Date.now();
  for (const f of (await readdir(certs)).filter((n) => /^token-\d{8}T\d{6}\.(key|crt)$/.test(n))) await rm(join(certs, f));
  await within(10_000, 'old token refused on all', async () => {
    const s = await Promise.all(tgw.map((g) => status(g, issued.token)));
    return s.every((x) => x === 401) ? s : undefined;
  });
  assert.ok(Date.now() - t0 < 5000, `${Date.now() - t0} ms`);
  const oldRefresh = await request(`${tgw[0]!.url}/token`, form({ grant_type: 'refresh_token', refresh_token: issued.refresh_token, service: SERVICE, client_id: 'test' }));
  assert.equal(oldRefresh.status, 401, 'its refresh token too');
  for (const g of tgw) assert.equal(await status(g, fresh.token), 200, 'tokens of the current key still verify');
});

test('Redis killed: correct logins work on all, wrong passwords are throttled per process, a warning; restarted: shared limits again, an info line', { skip: !withRedis }, async () => {
  const marks = gws.map((g) => g.entries().length);
  await redis.kill();
  await Promise.all(gws.map((g, i) => g.waitFor((e) => e.msg === DOWN_MESSAGE, marks[i], 10_000)));
  // carol's credentials are new to every replica (her burst above failed): real checks, no Redis.
  for (let i = 0; i < 3; i++) assert.equal((await v2(i, 'carol', 'carol-pw', '127.0.0.31')).status, 200, `replica ${i + 1}`);
  const ready = await request(`${gws[0]!.url}/readyz`, { ca });
  assert.equal(ready.status, 503);
  assert.match(ready.body.toString(), new RegExp(REDIS_UNREACHABLE));
  // What Kubernetes' readinessProbe asks: the replicas stay in the Service.
  for (let i = 0; i < 3; i++) assert.equal((await request(`${gws[i]!.url}/readyz?exclude=redis`, { ca })).status, 200, `replica ${i + 1}`);
  // Each process counts alone: 10 tries each from one address, then 429. Never unlimited.
  for (let i = 0; i < 3; i++) {
    let tries = 0;
    while (tries < 30 && (await v2(i, 'alice', `down-${i}-${tries}`, '127.0.0.32')).status === 401) tries++;
    assert.equal(tries, 10, `replica ${i + 1}`);
  }
  const back = gws.map((g) => g.entries().length);
  await redis.restart();
  await Promise.all(gws.map((g, i) => g.waitFor((e) => e.msg === UP_MESSAGE, back[i], 15_000)));
  for (const [i, g] of gws.entries()) {
    assert.equal(g.entries().filter((e) => e.msg === DOWN_MESSAGE).length, 1, `one warning at replica ${i + 1}`);
    assert.equal(g.entries().filter((e) => e.msg === UP_MESSAGE).length, 1, `one info line at replica ${i + 1}`);
  }
  assert.equal((await request(`${gws[0]!.url}/readyz`, { ca })).status, 200);
  // Shared again: ten failures spread over the three, then 429 on all.
  for (let i = 0; i < 10; i++) assert.equal((await v2(i, 'alice', `again-${i}`, '127.0.0.33')).status, 401);
  for (let i = 0; i < 3; i++) assert.equal((await v2(i, 'alice', 'again', '127.0.0.33')).status, 429, `replica ${i + 1}`);
});
