// The shared Redis defended and its failures visible, with real redis-servers:
// a password (redis.passwordFile) and a refusal without it; rediss:// with
// redis.ca; a Redis restarted without persistence does not bring logged-out
// web UI cookies back (the epoch); a read-only replica (what a failover
// leaves behind) is named by /readyz?verbose, counted by
// registry_gateway_redis_fallback{reason="readonly"}, and the throttles count
// per process meanwhile, until it is promoted; Sentinel by configuration.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { onExit } from '../helpers/cleanup.js';
import { Writable } from 'node:stream';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gateway as gatewayCli } from '../helpers/exec.js';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { request, type Reply } from '../helpers/https.js';
import { redisCli, startRedis } from '../helpers/redis.js';
import { freePort, startRegistry, waitForPort } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';
import { connectShared, REDIS_READONLY, REDIS_UNREACHABLE } from '../../src/shared/redis.js';
import { validateConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/util/log.js';
import { GatewayError } from '../../src/errors.js';

const work = await tempDir();
const certs = join(work, 'certs');
const htpasswd = join(work, 'htpasswd');
assert.equal((await gatewayCli(['certs', 'init', '--dir', certs, '--host', 'localhost', '--host', '127.0.0.1'])).code, 0);
assert.equal((await gatewayCli(['users', 'add', 'alice', '--password-stdin', '--file', htpasswd, '--cost', '4'], { input: 'alice-pw' })).code, 0);
const ca = await readFile(join(certs, 'ca.crt'), 'utf8');
const PASSWORD = 'redis-secret-pw';
const passwordFile = join(work, 'redis-password');
await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
const primary = await startRedis(work, { password: PASSWORD });
const registry = await startRegistry(work, { storage: join(work, 'storage') });
const quiet = createLogger(new Writable({ write: (_c, _e, done) => done() }));
const stops: (() => Promise<unknown>)[] = [() => registry.stop(), () => primary.stop()];
after(async () => {
  for (const stop of stops.reverse()) await stop();
});

const gatewayOn = async (redis: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<GatewayProcess> => {
  const gw = await startGateway(work, {
    upstream: registry.url,
    tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') },
    auth: { mode: 'htpasswd', htpasswd },
    access: [{ account: 'alice', name: '**', actions: ['*'] }],
    redis: { prefix: 'hard:', ...redis },
    ...extra,
  });
  stops.push(() => gw.stop());
  return gw;
};

/** What `check` returns once it is not undefined, waited for generously. */
async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// The web UI as a browser uses it: the cookie it holds, the Origin on POST and DELETE.
async function ui(gw: GatewayProcess, method: string, path: string, cookie?: string, body?: unknown): Promise<Reply> {
  const headers: Record<string, string> = { ...(cookie ? { cookie } : {}), ...(method === 'GET' ? {} : { origin: `https://127.0.0.1:${gw.port}` }) };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return request(`${gw.url}${path}`, { ca, method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
}
async function login(gw: GatewayProcess): Promise<string> {
  const r = await ui(gw, 'POST', '/ui/api/session', undefined, { username: 'alice', password: 'alice-pw' });
  assert.equal(r.status, 200, r.body.toString());
  return r.headers['set-cookie']![0]!.split(';')[0]!;
}
const userOf = async (gw: GatewayProcess, cookie: string) => (await ui(gw, 'GET', '/ui/api/session', cookie)).json().user as string | null;

test('redis.passwordFile: the gateway authenticates; without the password Redis refuses it and /readyz says so', async () => {
  const withPassword = await connectShared({ url: primary.url, passwordFile, prefix: 'hard:', timeout: 1000 }, quiet);
  const without = await connectShared({ url: primary.url, prefix: 'hard:', timeout: 1000 }, quiet);
  try {
    assert.equal(withPassword.status(), undefined);
    assert.ok(withPassword.usable());
    assert.equal(without.status(), REDIS_UNREACHABLE, 'NOAUTH: not usable');
    assert.ok(!without.usable());
  } finally {
    await withPassword.close();
    await without.close();
  }
});

test('a Redis restarted without persistence: logged-out cookies stay dead on every replica, old and new; new logins work', async () => {
  const one = await gatewayOn({ url: primary.url, passwordFile });
  const two = await gatewayOn({ url: primary.url, passwordFile });
  const cookie = await login(one);
  assert.equal(await userOf(two, cookie), 'alice', 'every replica accepts the cookie');
  assert.equal((await ui(one, 'DELETE', '/ui/api/session', cookie)).status, 204);
  assert.equal(await userOf(two, cookie), null, 'logged out on one: refused on the other, through Redis');
  const live = await login(one);
  // Sessions carry their issue time in seconds: the restart comes in a later second than the logins.
  await new Promise((r) => setTimeout(r, 1100));
  const from = two.entries().length;
  await primary.kill();
  await primary.restart();
  assert.equal(await redisCli(primary, ['--scan', '--pattern', 'hard:ui-revoked:*'], PASSWORD), '', 'the logout is gone from Redis');
  await two.waitFor((e) => /redis lost its data/.test(String(e.msg)), from, 20_000);
  await until('Redis ready again on both', async () => ((await request(`${one.url}/readyz`, { ca })).status === 200
    && (await request(`${two.url}/readyz`, { ca })).status === 200 ? true : undefined));
  const three = await gatewayOn({ url: primary.url, passwordFile });
  for (const [name, gw] of [['one', one], ['two', two], ['three (started after the restart)', three]] as const) {
    assert.equal(await userOf(gw, cookie), null, `the logged-out cookie on ${name}`);
    assert.equal(await userOf(gw, live), null, `sessions from before the restart end too (their logout may be lost), on ${name}`);
  }
  const fresh = await login(three);
  assert.equal(await userOf(one, fresh), 'alice', 'a login after the restart works on every replica');
});

function scrape(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(`http://127.0.0.1:${port}/metrics`, { agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

test('a read-only replica: named by /readyz?verbose, counted, throttles per process; promoted: shared again', async () => {
  const replica = await startRedis(work, { password: PASSWORD, replicaOf: primary });
  stops.push(() => replica.stop());
  const metricsPort = await freePort();
  const gw = await gatewayOn({ url: replica.url, passwordFile }, { metrics: { listen: `127.0.0.1:${metricsPort}` } });
  const verbose = await until('readyz names the replica', async () => {
    const r = await request(`${gw.url}/readyz?verbose`, { ca });
    return r.body.toString().includes(REDIS_READONLY) ? r : undefined;
  });
  assert.equal(verbose.status, 503);
  assert.match(verbose.body.toString(), /\[-\]redis failed: redis is a read-only replica/);
  assert.match(verbose.body.toString(), /\[\+\]upstream ok/);
  const excluded = await request(`${gw.url}/readyz?exclude=redis&verbose`, { ca });
  assert.equal(excluded.status, 200, 'the Kubernetes probe excludes redis: still ready');
  assert.match(excluded.body.toString(), /\[-\]redis failed: redis is a read-only replica \(excluded\)/);
  assert.match(await scrape(metricsPort), /^registry_gateway_redis_fallback\{reason="readonly"\} 1$/m);
  assert.match(await scrape(metricsPort), /^registry_gateway_redis_fallback\{reason="unreachable"\} 0$/m);
  assert.ok(gw.entries().some((e) => /read-only replica/.test(String(e.msg))), 'a warning in the log');
  // The throttle counts in this process: ten failures, then 429; a correct password is not refused for want of Redis.
  const statuses: number[] = [];
  for (let i = 0; i < 11; i++) statuses.push((await request(`${gw.url}/v2/`, { ca, user: `guess${i}:wrong`, localAddress: '127.0.0.9' })).status);
  assert.deepEqual(statuses.slice(0, 10), Array(10).fill(401));
  assert.equal(statuses[10], 429);
  assert.equal((await request(`${gw.url}/v2/`, { ca, user: 'alice:alice-pw' })).status, 200);
  assert.equal(await redisCli(replica, ['--scan', '--pattern', 'hard:failures:*'], PASSWORD), '', 'nothing written to the replica');
  // Failover done: the replica is promoted.
  assert.equal(await redisCli(replica, ['replicaof', 'no', 'one'], PASSWORD), 'OK');
  await until('ready once promoted', async () => ((await request(`${gw.url}/readyz`, { ca })).status === 200 ? true : undefined));
  assert.match(await scrape(metricsPort), /^registry_gateway_redis_fallback\{reason="readonly"\} 0$/m);
});

test('rediss:// with redis.ca: verified against that CA; without it the connection is refused; ca without rediss:// is refused', async () => {
  const tls = await startRedis(work, { password: PASSWORD, tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key'), ca: join(certs, 'ca.crt') } });
  stops.push(() => tls.stop());
  const good = await connectShared({ url: tls.url, passwordFile, ca: join(certs, 'ca.crt'), prefix: 'hard:', timeout: 1000 }, quiet);
  const bad = await connectShared({ url: tls.url, passwordFile, prefix: 'hard:', timeout: 1000 }, quiet);
  try {
    assert.equal(good.status(), undefined, 'verified with redis.ca');
    await good.client.set('hard:tls-check', '1');
    assert.equal(bad.status(), REDIS_UNREACHABLE, 'the system CAs do not know the gateway\'s CA');
  } finally {
    await good.close();
    await bad.close();
  }
  assert.throws(() => validateConfig({ redis: { url: primary.url, ca: 'ca.crt' } }, {}, 'g.yaml'),
    (e: unknown) => e instanceof GatewayError && /redis\.ca: only used with TLS: make redis\.url rediss:/.test(e.message));
  await assert.rejects(connectShared({ url: tls.url, ca: join(work, 'nope.crt'), prefix: 'hard:', timeout: 1000 }, quiet),
    (e: unknown) => e instanceof GatewayError && /cannot read redis\.ca .*nope\.crt: ENOENT/.test(e.message));
});

test('redis.sentinel: ioredis finds the master through a real redis-sentinel, with the password', async () => {
  const port = await freePort();
  const conf = join(work, 'sentinel.conf');
  // sentinel rewrites its config file: its own copy, in the test's directory.
  await writeFile(conf, `port ${port}\nbind 127.0.0.1\nsentinel monitor gwmaster 127.0.0.1 ${primary.port} 1\nsentinel auth-pass gwmaster ${PASSWORD}\n`);
  const sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  const forget = onExit(() => sentinel.kill('SIGKILL'));
  stops.push(async () => {
    sentinel.kill('SIGKILL');
    forget();
  });
  await waitForPort(port);
  const shared = await until('connected through the sentinel', async () => {
    const s = await connectShared({
      url: 'redis://gwmaster', passwordFile, sentinel: { name: 'gwmaster', addresses: [`127.0.0.1:${port}`] }, prefix: 'hard:', timeout: 1000,
    }, quiet);
    if (s.status() === undefined) return s;
    await s.close();
    return undefined;
  });
  try {
    await shared.client.set('hard:through-sentinel', '1');
    assert.equal(await redisCli(primary, ['get', 'hard:through-sentinel'], PASSWORD), '1', 'written on the master the sentinel named');
    assert.ok(shared.usable());
  } finally {
    await shared.close();
  }
});
