// The login throttles with a fake verifier and a fake clock: a guesser at one
// account can never lock out a correct login from an address with no
// failures, and guessing stays bounded (passwordLogin.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BusyError } from '../../src/auth/bcryptPool.js';
import { createPasswordLogin, type LoginResult } from '../../src/auth/passwordLogin.js';
import { createThrottle } from '../../src/auth/throttle.js';
import type { Verifier } from '../../src/auth/verifier.js';

const PASSWORDS: Record<string, string> = { alice: 'right', bob: 'bob-pw' };

function setup() {
  const clock = { now: 0 };
  const now = () => clock.now;
  const checks: string[] = [];
  // Never cached, so that every login below is a check; each takes a turn of the event loop.
  const verifier: Verifier = {
    known: () => false,
    verify: async (user, password) => {
      checks.push(`${user}:${password}`);
      await new Promise((r) => setImmediate(r));
      return PASSWORDS[user] === password;
    },
    clear: () => {},
  };
  const login = createPasswordLogin(verifier, {
    byAddress: createThrottle(10, 60_000, now),
    byUser: createThrottle(30, 60_000, now),
    byUserSource: createThrottle(1, 60_000, now),
  });
  const status = (r: LoginResult) => (r.ok ? 200 : r.status);
  const attempt = async (user: string, password: string, address: string) => status(await login.login(user, password, address));
  return { clock, checks, login, attempt };
}

/** Locks alice: one wrong password from each of 30 addresses (none over its own limit). */
async function lock(attempt: (u: string, p: string, a: string) => Promise<number>): Promise<void> {
  for (let i = 1; i <= 30; i++) assert.equal(await attempt('alice', `guess${i}`, `10.0.1.${i}`), 401);
}

test('3 addresses x 10 wrong passwords, then the right one from a fourth address: logged in, every minute', async () => {
  const { clock, attempt } = setup();
  for (let minute = 0; minute < 3; minute++) {
    clock.now = minute * 60_000;
    for (const a of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) {
      for (let i = 0; i < 10; i++) assert.equal(await attempt('alice', `guess${minute}-${i}`, a), 401);
      assert.equal(await attempt('alice', 'guess', a), 429, 'each address at its own limit');
    }
    assert.equal(await attempt('alice', 'right', '10.0.0.4'), 200, `minute ${minute}`);
  }
});

test('the same through the same login the token endpoint uses: the fourth address is unaffected by the first three', async () => {
  const { login } = setup();
  for (const a of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) for (let i = 0; i < 10; i++) await login.login('alice', `g${i}`, a);
  assert.deepEqual(await login.login('alice', 'right', '10.0.0.4'), { ok: true, account: 'alice' });
});

test('an address that failed for a locked user stays blocked, even with the right password, until a window ends', async () => {
  const { clock, attempt, login } = setup();
  await lock(attempt);
  clock.now = 20_000;
  const r = await login.login('alice', 'right', '10.0.1.1');
  assert.deepEqual(r, { ok: false, status: 429, message: 'too many failed logins; retry in 40 s', retryAfter: 40 });
  assert.equal(await attempt('bob', 'bob-pw', '10.0.1.1'), 200, 'the taint is per user: other users log in from there');
  clock.now = 60_000;
  assert.equal(await attempt('alice', 'right', '10.0.1.1'), 200, 'the window is over');
});

test('while a user is locked, an address with no failure for it gets exactly one try', async () => {
  const { attempt, checks } = setup();
  await lock(attempt);
  const before = checks.length;
  assert.equal(await attempt('alice', 'one-more', '10.0.2.1'), 401, 'a check');
  assert.equal(await attempt('alice', 'two-more', '10.0.2.1'), 429, 'tainted now');
  assert.equal(await attempt('alice', 'right', '10.0.2.1'), 429, 'even the right password');
  assert.equal(checks.length - before, 1, 'one bcrypt run');
  assert.equal(await attempt('alice', 'right', '10.0.2.2'), 200, 'the next clean address logs in');
});

test('parallel guesses from a clean address at a locked user get one try; the same credentials in parallel all pass', async () => {
  const { attempt, checks } = setup();
  await lock(attempt);
  const before = checks.length;
  const guesses = await Promise.all(Array.from({ length: 10 }, (_, i) => attempt('alice', `parallel${i}`, '10.0.3.1')));
  assert.equal(checks.length - before, 1, 'checks in flight count for the (user, address) pair');
  assert.deepEqual([guesses.filter((s) => s === 401).length, guesses.filter((s) => s === 429).length], [1, 9]);
  // A push's parallel requests with the right password (the real verifier
  // shares one bcrypt run among them).
  const same = await Promise.all(Array.from({ length: 5 }, () => attempt('alice', 'right', '10.0.3.2')));
  assert.deepEqual([...new Set(same)], [200]);
});

test('parallel guesses before the lock: no more checks than the user limit plus one per address', async () => {
  const { checks, attempt } = setup();
  // 40 addresses fire 10 guesses each at once: without counting checks in
  // flight, all 400 would be checked before the first failure is recorded.
  const all = Array.from({ length: 400 }, (_, i) => attempt('alice', `p${i}`, `10.0.5.${(i % 40) + 1}`));
  const results = await Promise.all(all);
  assert.ok(checks.length <= 30 + 40, `${checks.length} checks`);
  assert.equal(results.filter((s) => s === 401).length, checks.length);
});

test('guessing bound: per user window at most 30 + one per source (IPv4 address, IPv6 /56); 10 per source', async () => {
  const { clock, checks, attempt } = setup();
  const v4 = Array.from({ length: 40 }, (_, i) => `10.0.4.${i + 1}`);
  // 20 /64s of one /56, and one /64 of another: two sources.
  const v6 = [...Array.from({ length: 20 }, (_, i) => `2001:db8:1:${i.toString(16)}::1`), '2001:db8:2::7'];
  const sources = v4.length + 2;
  for (let window = 0; window < 2; window++) {
    clock.now = window * 60_000;
    const before = checks.length;
    // Every address keeps guessing, round-robin, for the whole window.
    for (let round = 0; round < 12; round++) {
      for (const a of [...v4, ...v6]) await attempt('alice', `w${window}-r${round}-${a}`, a);
      clock.now += 4_000;
    }
    const tries = checks.length - before;
    assert.ok(tries <= 30 + sources, `window ${window}: ${tries} checks`);
    // The first 30 came from the first 30 IPv4 addresses; then each untainted source had one.
    assert.equal(tries, 30 + (v4.length - 30) + 2, `window ${window}`);
  }
  // The per-address limit holds across users.
  clock.now = 10 * 60_000;
  for (let i = 0; i < 10; i++) assert.equal(await attempt(`user${i}`, 'x', '10.0.9.9'), 401);
  assert.equal(await attempt('bob', 'bob-pw', '10.0.9.9'), 429);
  // IPv6 addresses of one /56 are one source, whatever their /64.
  for (let i = 0; i < 10; i++) assert.equal(await attempt(`user${i}`, 'x', `2001:db8:9:${i}::${i + 1}`), 401);
  assert.equal(await attempt('bob', 'bob-pw', '2001:db8:9:ff::abcd'), 429);
  assert.equal(await attempt('bob', 'bob-pw', '2001:db8:9:100::1'), 200, 'the next /56 is not');
});

test('while a user is locked, a clean /64 in a /56 that failed for it waits; another /56 gets its try', async () => {
  const { attempt } = setup();
  await lock(attempt);
  assert.equal(await attempt('alice', 'x', '2001:db8:1:1::1'), 401);
  assert.equal(await attempt('alice', 'right', '2001:db8:1:2::1'), 429, 'same /56');
  assert.equal(await attempt('alice', 'right', '2001:db8:1:100::1'), 200, 'another /56');
});

test('a check refused for a full queue counts as a failure for its source (not its user), and marks the source as not clean', async () => {
  const clock = { now: 0 };
  const origins: { source: string; clean: boolean }[] = [];
  let busy = true;
  const verifier: Verifier = {
    known: () => false,
    verify: async (user, password, origin) => {
      origins.push(origin!);
      if (busy) throw new BusyError('full');
      return PASSWORDS[user] === password;
    },
    clear: () => {},
  };
  const login = createPasswordLogin(verifier, {
    byAddress: createThrottle(10, 60_000, () => clock.now),
    byUser: createThrottle(30, 60_000, () => clock.now),
    byUserSource: createThrottle(1, 60_000, () => clock.now),
  });
  for (let i = 0; i < 10; i++) assert.equal((await login.login(`u${i}`, 'x', '10.0.0.1')).ok, false);
  assert.equal(origins[0]!.clean, true, 'clean before its first refusal');
  assert.equal(origins[1]!.clean, false, 'not clean after it');
  busy = false;
  const r = await login.login('bob', 'bob-pw', '10.0.0.1');
  assert.ok(!r.ok && r.status === 429 && (r.retryAfter ?? 0) > 1, 'ten refusals are the source\'s ten failures');
  assert.equal(origins.length, 10, 'no check ran past the limit');
  assert.deepEqual(await login.login('bob', 'bob-pw', '10.0.0.2'), { ok: true, account: 'bob' }, 'the user is not charged');
});
