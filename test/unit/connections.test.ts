import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addressCounter, connectionCap, FALLBACK_OPEN_FILES, FILE_HEADROOM, MIN_CONNECTIONS, oncePer, openFilesLimit, parseMaxOpenFiles,
} from '../../src/server/connections.js';

// /proc/self/limits as Linux 6.1 writes it.
const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max file size             unlimited            unlimited            bytes
Max processes             95828                95828                processes
Max open files            20000                524288               files
Max locked memory         8388608              8388608              bytes
`;

test('parseMaxOpenFiles reads the soft limit of "Max open files"', () => {
  assert.equal(parseMaxOpenFiles(LIMITS), 20000);
  assert.equal(parseMaxOpenFiles(LIMITS.replace('20000 ', 'unlimited')), Number.MAX_SAFE_INTEGER);
  assert.equal(parseMaxOpenFiles(LIMITS.replace(/^Max open files.*$/m, '')), undefined, 'no such line');
  assert.equal(parseMaxOpenFiles('Max open files            lots                 lots                 files'), undefined);
  assert.equal(parseMaxOpenFiles('Max open files            0                    0                    files'), undefined);
  assert.equal(parseMaxOpenFiles(''), undefined);
});

test('openFilesLimit falls back when /proc cannot be read or parsed', () => {
  assert.deepEqual(openFilesLimit(() => LIMITS), { limit: 20000, known: true });
  assert.deepEqual(openFilesLimit(() => {
    throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
  }), { limit: FALLBACK_OPEN_FILES, known: false });
  assert.deepEqual(openFilesLimit(() => 'garbage'), { limit: FALLBACK_OPEN_FILES, known: false });
  const real = openFilesLimit();
  assert.ok(real.known && real.limit > 0, 'this process has one');
});

test("connectionCap: 'auto' leaves room for upstream sockets and files, never below the minimum", () => {
  assert.deepEqual(connectionCap('auto', 20000, 256), { cap: 20000 - 256 - FILE_HEADROOM, fits: 19680 });
  assert.equal(connectionCap('auto', 1024, 256).cap, 704);
  assert.equal(connectionCap('auto', 1024, 8).cap, 1024 - 8 - FILE_HEADROOM);
  assert.equal(connectionCap('auto', 256, 256).cap, MIN_CONNECTIONS);
  assert.equal(connectionCap('auto', Number.MAX_SAFE_INTEGER, 256).cap, Number.MAX_SAFE_INTEGER - 256 - FILE_HEADROOM);
});

test('connectionCap: a number is kept; one above what fits comes with a warning naming the fix', () => {
  assert.deepEqual(connectionCap(500, 1024, 256), { cap: 500, fits: 704 });
  assert.deepEqual(connectionCap(704, 1024, 256), { cap: 704, fits: 704 });
  const over = connectionCap(5000, 1024, 256);
  assert.equal(over.cap, 5000, "the operator's number stands");
  assert.match(over.warning!, /limits\.connections is 5000, but 1024 open files leave room for 704/);
  assert.match(over.warning!, /ulimit -n 5320/);
  assert.match(over.warning!, /LimitNOFILE=5320/);
});

test('addressCounter: at most limit per key, released on close, forgotten at zero', () => {
  const c = addressCounter(2);
  assert.equal(c.take('192.0.2.1'), true);
  assert.equal(c.take('192.0.2.1'), true);
  assert.equal(c.take('192.0.2.1'), false, 'the third is refused');
  assert.equal(c.count('192.0.2.1'), 2, 'a refusal is not counted');
  assert.equal(c.take('2001:db8:0:1::/64'), true, 'other keys are independent');
  c.release('192.0.2.1');
  assert.equal(c.take('192.0.2.1'), true, 'a release frees a place');
  c.release('192.0.2.1');
  c.release('192.0.2.1');
  assert.equal(c.count('192.0.2.1'), 0);
  assert.equal(c.size, 1, 'keys at zero are dropped');
  c.release('192.0.2.9');
  assert.equal(c.count('192.0.2.9'), 0, 'releasing an unknown key does not go negative');
  assert.equal(c.size, 1);
});

test('oncePer: true once per key per interval', () => {
  let now = 0;
  const once = oncePer(60_000, () => now);
  assert.equal(once('a'), true);
  assert.equal(once('a'), false);
  assert.equal(once('b'), true);
  now = 59_999;
  assert.equal(once('a'), false);
  now = 60_000;
  assert.equal(once('a'), true);
  for (let i = 0; i < 2000; i++) once(`k${i}`);
  now = 200_000;
  assert.equal(once('k1'), true, 'true again once the interval has passed, with many keys held');
});
