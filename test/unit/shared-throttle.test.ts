// The failed-login throttles counted in a real redis-server (Debian's), as
// replicas share them (src/shared/throttle.ts): several connections in this
// process stand for several replicas. Then Redis killed, frozen, absent at
// the start, or asking for a password.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createPasswordLogin, type LoginResult, type PasswordLogin } from '../../src/auth/passwordLogin.js';
import { createThrottle } from '../../src/auth/throttle.js';
import type { Verifier } from '../../src/auth/verifier.js';
import { GatewayError } from '../../src/errors.js';
import { connectShared, DOWN_MESSAGE, REDIS_UNREACHABLE, UP_MESSAGE, readRedisPassword, type SharedState } from '../../src/shared/redis.js';
import { createRedisThrottle } from '../../src/shared/throttle.js';
import { createLogger } from '../../src/util/log.js';
import { freePort } from '../helpers/registry.js';
import { redisCli, startRedis } from '../helpers/redis.js';
import { tempDir } from '../helpers/tmp.js';

const work = await tempDir('gw-shared-');
const redis = await startRedis(work);
const opened: SharedState[] = [];
after(async () => {
  for (const s of opened) await s.close();
  await redis.stop();
});

/** A logger whose lines the test reads. */
function logs() {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger(new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
      done();
    },
  }));
  return { log, lines, count: (msg: string) => lines.filter((l) => l.msg === msg).length };
}

let prefixes = 0;
/** n connections ("replicas") sharing one key prefix. */
async function replicas(n: number, url = redis.url, opts: { timeout?: number; passwordFile?: string } = {}) {
  const prefix = `t${++prefixes}:`;
  return Promise.all(Array.from({ length: n }, async () => {
    const l = logs();
    const shared = await connectShared({ url, prefix, timeout: opts.timeout ?? 250, passwordFile: opts.passwordFile }, l.log);
    opened.push(shared);
    return { shared, ...l };
  }));
}

const PASSWORDS: Record<string, string> = { alice: 'right', bob: 'bob-pw' };
/** A verifier that remembers nothing, so every login is a check; each takes a turn of the event loop. */
function fakeVerifier(checks: string[], known: Set<string> = new Set()): Verifier {
  return {
    known: (u, p) => known.has(`${u}:${p}`),
    verify: async (user, password) => {
      checks.push(`${user}:${password}`);
      await new Promise((r) => setTimeout(r, 5));
      return PASSWORDS[user] === password;
    },
    clear: () => {},
  };
}

/** passwordLogin as serve builds it (passwords.ts: 10, 30, 1 per minute), counting in Redis. */
function redisLogin(shared: SharedState, checks: string[], known?: Set<string>): PasswordLogin {
  const t = (name: string, limit: number) => createRedisThrottle(shared, name, limit, 60_000, createThrottle(limit, 60_000));
  return createPasswordLogin(fakeVerifier(checks, known), { byAddress: t('address', 10), byUser: t('user', 30), byUserSource: t('user-source', 1) });
}
const status = (r: LoginResult) => (r.ok ? 200 : r.status);

test('two replicas share failures, tries in flight and successes; the window runs from the first failure', async () => {
  const [a, b] = await replicas(2);
  const ta = createRedisThrottle(a!.shared, 'address', 3, 2000, createThrottle(3, 2000));
  const tb = createRedisThrottle(b!.shared, 'address', 3, 2000, createThrottle(3, 2000));
  for (const t of [ta, tb, ta]) {
    const taken = await t.take('addr:10.0.0.1');
    assert.equal(taken.wait, 0);
    await taken.end(true);
  }
  assert.equal((await tb.take('addr:10.0.0.1')).wait, 2, 'three failures on two replicas: the rest of the 2 s window');
  assert.equal((await ta.take('addr:10.0.0.2')).wait, 0, 'other keys unaffected');
  // Tries held on one replica count on the other: two running at A, one free at B, then none.
  const held = [await ta.take('addr:10.0.0.3'), await ta.take('addr:10.0.0.3')];
  const third = await tb.take('addr:10.0.0.3');
  assert.equal(third.wait, 0);
  assert.equal((await tb.take('addr:10.0.0.3')).wait, 1, 'three held across the replicas: wait for one to end');
  for (const h of [...held, third]) await h.end(false);
  assert.equal((await tb.take('addr:10.0.0.3')).wait, 0, 'given back');
  // A success at one replica clears the key for both.
  await tb.success('addr:10.0.0.1');
  const cleared = await ta.take('addr:10.0.0.1');
  assert.equal(cleared.wait, 0);
  await cleared.end(true);
  // The window is counted from the first failure, not extended by later ones.
  const w = createRedisThrottle(a!.shared, 'w', 2, 2000, createThrottle(2, 2000));
  const start = Date.now();
  await (await w.take('k')).end(true);
  await new Promise((r) => setTimeout(r, 1100));
  await (await w.take('k')).end(true);
  assert.equal((await w.take('k')).wait, 1, 'about 0.9 s left of the window that began with the first failure');
  await new Promise((r) => setTimeout(r, Math.max(0, start + 2100 - Date.now())));
  assert.equal((await w.take('k')).wait, 0, 'the window is over');
});

test('a parallel burst spread over three replicas gets the tries of one gateway (10 per address), not three times as many', async () => {
  const shared = await replicas(3);
  const checks: string[] = [];
  const logins = shared.map((s) => redisLogin(s.shared, checks));
  const burst = await Promise.all(Array.from({ length: 60 }, (_, i) => logins[i % 3]!.login('alice', `guess${i}`, '10.1.0.1')));
  assert.equal(checks.length, 10, `${checks.length} checks`);
  assert.deepEqual([burst.filter((r) => status(r) === 401).length, burst.filter((r) => status(r) === 429).length], [10, 50]);
  // Every replica refuses the address now, and a correct login from a clean address passes on each.
  for (const login of logins) {
    assert.equal(status(await login.login('alice', 'guess', '10.1.0.1')), 429);
    assert.equal(status(await login.login('alice', 'right', '10.1.0.2')), 200);
  }
  // What the shared count prevents: the same burst at three gateways that count alone.
  const alone: string[] = [];
  const separate = [0, 1, 2].map(() => createPasswordLogin(fakeVerifier(alone), {
    byAddress: createThrottle(10, 60_000), byUser: createThrottle(30, 60_000), byUserSource: createThrottle(1, 60_000),
  }));
  await Promise.all(Array.from({ length: 60 }, (_, i) => separate[i % 3]!.login('alice', `guess${i}`, '10.1.0.1')));
  assert.equal(alone.length, 30);
});

test('a user locked through three replicas still logs in from a clean address; a tainted one waits on all', async () => {
  const shared = await replicas(3);
  const checks: string[] = [];
  const logins = shared.map((s) => redisLogin(s.shared, checks));
  // 30 addresses, one wrong password each, round-robin: the per-user limit.
  for (let i = 1; i <= 30; i++) assert.equal(status(await logins[i % 3]!.login('alice', `g${i}`, `10.2.0.${i}`)), 401);
  for (const login of logins) {
    const tainted = await login.login('alice', 'right', '10.2.0.1');
    assert.equal(status(tainted), 429, 'an address that failed for alice waits, even with the right password');
  }
  assert.equal(status(await logins[0]!.login('alice', 'one-more', '10.2.1.1')), 401, 'one try for an untainted address');
  for (const login of logins) assert.equal(status(await login.login('alice', 'right', '10.2.1.1')), 429, 'then it is tainted on all');
  for (const login of logins) assert.equal(status(await login.login('alice', 'right', '10.2.2.1')), 200);
});

test('verified credentials cost no Redis command; keys name no user or address', async () => {
  const [a] = await replicas(1);
  const known = new Set(['bob:bob-pw']);
  const login = redisLogin(a!.shared, [], known);
  await login.login('bob', 'wrong', '10.3.0.1');
  const processed = async () => Number(/total_commands_processed:(\d+)/.exec(await redisCli(redis, ['INFO', 'stats']))![1]);
  const before = await processed();
  for (let i = 0; i < 50; i++) assert.equal(status(await login.login('bob', 'bob-pw', '10.3.0.1')), 200);
  assert.equal(await processed() - before, 1, 'only the INFO that reads the count');
  const keys = await redisCli(redis, ['--scan', '--pattern', `${a!.shared.prefix}*`]);
  assert.ok(keys.length > 0);
  assert.doesNotMatch(keys, /bob|10\.3\.0\.1/);
});

test('Redis killed: per-process limits, correct logins pass, one warning; restarted: one info line, shared limits again', async () => {
  const own = await startRedis(work);
  try {
    const shared = await replicas(2, own.url);
    const checks: string[] = [];
    const [a, b] = shared.map((s) => redisLogin(s.shared, checks));
    for (let i = 0; i < 6; i++) assert.equal(status(await a!.login('alice', `x${i}`, '10.4.0.1')), 401);
    await own.kill();
    await until(() => shared.every((s) => s.shared.status() === REDIS_UNREACHABLE), 5000);
    // A keeps what it saw: 4 more, then 429. B starts from zero: 10, then 429. Never unlimited.
    const tries = async (login: PasswordLogin, from: string) => {
      let n = 0;
      while (n < 30 && status(await login.login('alice', `y${n}-${from}`, '10.4.0.1')) === 401) n++;
      return n;
    };
    assert.equal(await tries(a!, 'a'), 4);
    assert.equal(await tries(b!, 'b'), 10);
    assert.equal(status(await a!.login('bob', 'bob-pw', '10.4.0.2')), 200, 'a correct login is never refused for want of Redis');
    for (const s of shared) {
      assert.equal(s.shared.status(), REDIS_UNREACHABLE);
      assert.equal(s.count(DOWN_MESSAGE), 1);
      assert.equal(s.count(UP_MESSAGE), 0);
    }
    await own.restart();
    await until(() => shared.every((s) => s.shared.status() === undefined), 10_000);
    for (const s of shared) assert.equal(s.count(UP_MESSAGE), 1);
    // Shared again: 10 failures from a new address spread over both, then 429 on both.
    for (let i = 0; i < 10; i++) assert.equal(status(await [a, b][i % 2]!.login('alice', `z${i}`, '10.4.0.3')), 401);
    assert.equal(status(await a!.login('alice', 'z', '10.4.0.3')), 429);
    assert.equal(status(await b!.login('alice', 'z', '10.4.0.3')), 429);
    for (const s of shared) assert.equal(s.count(DOWN_MESSAGE), 1, 'still one warning');
  } finally {
    await own.stop();
  }
});

test('Redis frozen (answers nothing): a login waits at most the timeout, then per-process limits; it counts again once it answers', async () => {
  const own = await startRedis(work);
  try {
    const [s] = await replicas(1, own.url, { timeout: 200 });
    const login = redisLogin(s!.shared, []);
    own.freeze();
    const t0 = Date.now();
    assert.equal(status(await login.login('bob', 'bob-pw', '10.5.0.1')), 200);
    assert.ok(Date.now() - t0 < 1000, `${Date.now() - t0} ms`);
    // Warned once a ping has not answered in time either (a busy event loop alone is no outage).
    await until(() => s!.count(DOWN_MESSAGE) === 1, 2000);
    assert.equal(s!.shared.status(), REDIS_UNREACHABLE);
    const t1 = Date.now();
    for (let i = 0; i < 10; i++) assert.equal(status(await login.login('alice', `f${i}`, '10.5.0.2')), 401);
    assert.equal(status(await login.login('alice', 'f', '10.5.0.2')), 429);
    assert.ok(Date.now() - t1 < 1000, 'no command waits while it is known to be down');
    own.thaw();
    await until(() => s!.shared.status() === undefined, 5000);
    assert.equal(s!.count(UP_MESSAGE), 1);
  } finally {
    own.thaw();
    await own.stop();
  }
});

test('a command timed out because this event loop was busy is no outage: no warning, shared again at once', async () => {
  const [s] = await replicas(1, redis.url, { timeout: 100 });
  const t = createRedisThrottle(s!.shared, 'address', 10, 60_000, createThrottle(10, 60_000));
  const pending = t.take('busy');
  const until_ = Date.now() + 300;
  while (Date.now() < until_) { /* the reply waits in the socket while the timer expires */ }
  const taken = await pending;
  assert.equal(s!.shared.usable(), false, 'the command timed out: nothing waits on Redis until a ping answers');
  assert.equal(taken.wait, 0);
  await taken.end(false);
  await until(() => s!.shared.usable(), 2000);
  assert.equal(s!.count(DOWN_MESSAGE), 0);
  assert.equal(s!.shared.status(), undefined);
});

test('started while Redis is away: serves with per-process limits, and shares once Redis comes', async () => {
  const port = await freePort();
  const l = logs();
  const t0 = Date.now();
  const shared = await connectShared({ url: `redis://127.0.0.1:${port}`, prefix: 'late:', timeout: 250 }, l.log);
  opened.push(shared);
  assert.ok(Date.now() - t0 < 3000);
  assert.equal(shared.status(), REDIS_UNREACHABLE);
  assert.equal(l.count(DOWN_MESSAGE), 1);
  const t = createRedisThrottle(shared, 'address', 1, 60_000, createThrottle(1, 60_000));
  await (await t.take('k')).end(true);
  assert.equal((await t.take('k')).wait, 60, 'the local limit holds');
  const { spawn } = await import('node:child_process');
  const late = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', work], { stdio: 'ignore' });
  try {
    await until(() => shared.status() === undefined, 10_000);
    assert.equal(l.count(UP_MESSAGE), 1);
    assert.equal((await t.take('other')).wait, 0);
  } finally {
    late.kill('SIGKILL');
  }
});

test('redis.passwordFile: read without its trailing newline; a missing or empty file stops the start; a wrong password is logged', async () => {
  const secured = await startRedis(work, { password: 's3cret pass' });
  try {
    const file = join(work, 'redis-password');
    await writeFile(file, 's3cret pass\n');
    assert.equal(await readRedisPassword(file), 's3cret pass');
    const [ok] = await replicas(1, secured.url, { passwordFile: file });
    assert.equal(ok!.shared.status(), undefined);
    const t = createRedisThrottle(ok!.shared, 'address', 1, 60_000, createThrottle(1, 60_000));
    await (await t.take('k')).end(true);
    assert.match(await redisCli(secured, ['--scan', '--pattern', `${ok!.shared.prefix}*`], 's3cret pass'), /failures:address:/);

    await assert.rejects(readRedisPassword(join(work, 'nope')), (err: GatewayError) =>
      err.code === 'FILE_MISSING' && /redis\.passwordFile .*nope not found: write the Redis password into it/.test(err.message));
    await writeFile(join(work, 'empty'), '\n');
    await assert.rejects(readRedisPassword(join(work, 'empty')), (err: GatewayError) => err.code === 'FILE_INVALID' && /is empty/.test(err.message));
    await assert.rejects(connectShared({ url: secured.url, passwordFile: join(work, 'nope'), prefix: 'x:', timeout: 250 }, logs().log), /not found/);

    await writeFile(join(work, 'wrong'), 'wrong\n');
    const [bad] = await replicas(1, secured.url, { passwordFile: join(work, 'wrong') });
    assert.equal(bad!.shared.status(), REDIS_UNREACHABLE);
    const warning = bad!.lines.find((x) => x.msg === DOWN_MESSAGE);
    assert.match(String(warning?.error), /WRONGPASS|invalid username-password/i);
  } finally {
    await secured.stop();
  }
});

async function until(ok: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
