import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import bcrypt from 'bcryptjs';
import { createBcryptPool, BusyError, type BcryptPool } from '../../src/auth/bcryptPool.js';
import { createVerifier } from '../../src/auth/verifier.js';
import { createThrottle } from '../../src/auth/throttle.js';
import { createPasswordLogin } from '../../src/auth/passwordLogin.js';

const HASH = bcrypt.hashSync('right', 4);

// Counts the bcrypt runs a verifier asks for.
function countingPool(delayMs = 20): BcryptPool & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    compare: async (password, hash) => {
      calls.push(hash);
      await new Promise((r) => setTimeout(r, delayMs));
      return bcrypt.compareSync(password, hash);
    },
    close: async () => {},
  };
}

test('a verified credential is cached: bcrypt runs once', async () => {
  const pool = countingPool();
  const v = createVerifier({ pool, lookup: (u) => (u === 'alice' ? HASH : undefined) });
  assert.equal(await v.verify('alice', 'right'), true);
  assert.equal(await v.verify('alice', 'right'), true);
  assert.equal(pool.calls.length, 1);
  assert.equal(await v.verify('alice', 'wrong'), false);
  assert.equal(await v.verify('alice', 'wrong'), false);
  assert.equal(pool.calls.length, 3, 'failures are never cached as successes');
});

test('concurrent checks of the same credentials share one bcrypt run', async () => {
  const pool = countingPool(50);
  const v = createVerifier({ pool, lookup: () => HASH });
  const results = await Promise.all(Array.from({ length: 20 }, () => v.verify('alice', 'right')));
  assert.ok(results.every(Boolean));
  assert.equal(pool.calls.length, 1);
});

test('unknown users cost a bcrypt run too, and fail', async () => {
  const pool = countingPool();
  const v = createVerifier({ pool, lookup: () => undefined });
  assert.equal(await v.verify('nobody', 'right'), false);
  assert.equal(pool.calls.length, 1);
  assert.match(pool.calls[0]!, /^\$2[aby]\$10\$/, 'compared against a dummy hash of the usual cost');
});

test('a removed user or changed hash fails at once despite the cache; TTL expires entries', async () => {
  let hash: string | undefined = HASH;
  let now = 0;
  const pool = countingPool(1);
  const v = createVerifier({ pool, lookup: () => hash, ttlMs: 1000, now: () => now });
  assert.equal(await v.verify('alice', 'right'), true);
  hash = undefined;
  assert.equal(await v.verify('alice', 'right'), false);
  hash = HASH;
  assert.equal(await v.verify('alice', 'right'), true);
  const runs = pool.calls.length;
  now = 2000;
  assert.equal(await v.verify('alice', 'right'), true);
  assert.equal(pool.calls.length, runs + 1, 'expired entry re-verified');
  v.clear();
  assert.equal(await v.verify('alice', 'right'), true);
  assert.equal(pool.calls.length, runs + 2);
});

test('the worker pool runs real bcrypt ($2a, $2b, $2y) and refuses when its queue is full', async () => {
  const pool = createBcryptPool({ size: 1, maxQueue: 2 });
  after(() => pool.close());
  assert.equal(await pool.compare('right', HASH), true);
  assert.equal(await pool.compare('right', HASH.replace('$2b$', '$2y$')), true);
  assert.equal(await pool.compare('right', HASH.replace('$2b$', '$2a$')), true);
  assert.equal(await pool.compare('wrong', HASH), false);
  assert.equal(await pool.compare('x', 'not a hash'), false);
  const slow = bcrypt.hashSync('x', 12);
  const flood = Array.from({ length: 5 }, () => pool.compare('x', slow));
  const outcomes = await Promise.allSettled(flood);
  assert.ok(outcomes.some((o) => o.status === 'rejected' && o.reason instanceof BusyError));
  assert.ok(outcomes.some((o) => o.status === 'fulfilled' && o.value === true));
});

test('the worker pool starts a worker on the first check and retires it when idle', async () => {
  const pool = createBcryptPool({ size: 1, idleMs: 200 });
  after(() => pool.close());
  assert.equal(pool.workers, 0, 'no isolate until a password is checked');
  assert.equal(await pool.compare('right', HASH), true);
  assert.equal(pool.workers, 1);
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(pool.workers, 0, 'the idle worker exited');
  assert.equal(await pool.compare('wrong', HASH), false, 'and a new one answers the next check');
  assert.equal(pool.workers, 1);
});

test('throttle: refuses after the limit within the window, resets on success and after the window; held tries count', () => {
  let now = 0;
  const t = createThrottle(3, 60_000, () => now);
  for (let i = 0; i < 3; i++) {
    const taken = t.take('a');
    assert.equal(taken.wait, 0);
    taken.end(true);
  }
  assert.equal(t.take('a').wait, 60);
  assert.equal(t.take('b').wait, 0, 'other keys unaffected');
  now = 30_000;
  assert.equal(t.take('a').wait, 30);
  now = 60_000;
  assert.equal(t.take('a').wait, 0);
  t.failure('a');
  t.success('a');
  // Tries held by checks still running count: the third waits while two run.
  const [x, y, z] = [t.take('c'), t.take('c'), t.take('c')];
  assert.deepEqual([x.wait, y.wait, z.wait], [0, 0, 0]);
  assert.equal(t.take('c').wait, 1, 'three held');
  x.end(false);
  y.end(false);
  y.end(true); // ended already: neither a failure nor a second give-back
  assert.equal(t.take('c').wait, 0);
  assert.equal(t.take('c').wait, 0, 'no failure counted: z and two new tries held');
  assert.equal(t.take('c').wait, 1);
  z.end(true);
});

const throttles = (perAddress: number, perUser: number) =>
  ({ byAddress: createThrottle(perAddress, 60_000), byUser: createThrottle(perUser, 60_000), byUserSource: createThrottle(1, 60_000) });

test('login: a flood of wrong passwords for a user locks out the addresses it came from but not a client already verified', async () => {
  const pool = countingPool(1);
  const users = new Set(['alice', 'bob']);
  const login = createPasswordLogin(createVerifier({ pool, lookup: (u) => (users.has(u) ? HASH : undefined) }), throttles(3, 5));
  assert.deepEqual(await login.login('alice', 'right', '10.0.0.1'), { ok: true, account: 'alice' });
  // Wrong passwords for both users from many addresses: the per-user limit trips.
  for (const user of users) {
    for (let i = 0; i < 5; i++) assert.equal((await login.login(user, `wrong${i}`, `10.0.1.${i}`)).ok, false);
  }
  const fresh = await login.login('bob', 'right', '10.0.1.0');
  assert.equal(fresh.ok, false);
  assert.equal(!fresh.ok && fresh.status, 429, 'from an address that failed for bob: not verified, even correct ones');
  const runs = pool.calls.length;
  assert.deepEqual(await login.login('alice', 'right', '10.0.0.1'), { ok: true, account: 'alice' }, 'verified credentials still pass');
  assert.equal(pool.calls.length, runs, 'without a bcrypt run');
});

test('login: tries sent in parallel from one address get no more bcrypt runs than the limit', async () => {
  const pool = countingPool(30);
  const login = createPasswordLogin(createVerifier({ pool, lookup: (u) => (u === 'alice' ? HASH : undefined) }), throttles(3, 30));
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => login.login('alice', `guess${i}`, '10.0.9.9')));
  assert.equal(pool.calls.length, 3, 'checks in flight count against the limit');
  assert.equal(results.filter((r) => !r.ok && r.status === 401).length, 3);
  assert.equal(results.filter((r) => !r.ok && r.status === 429).length, 17);
  // The same new credentials sent 16 times at once (a push's parallel
  // uploads) are one check: all pass, with one bcrypt run.
  const before = pool.calls.length;
  const same = await Promise.all(Array.from({ length: 16 }, () => login.login('alice', 'right', '10.0.9.8')));
  assert.ok(same.every((r) => r.ok));
  assert.equal(pool.calls.length - before, 1);
});
