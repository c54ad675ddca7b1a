// The bcrypt pool serves clean sources first (issue 21, item 3), with real
// worker threads and real bcrypt hashes: a clean source's check runs before
// those of sources that failed, each source has a small cap of waiting
// checks, and a clean check finding the queue full takes the place of a
// failed source's newest one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import bcrypt from 'bcryptjs';
import { BusyError, createBcryptPool } from '../../src/auth/bcryptPool.js';
import { sourceKey } from '../../src/util/address.js';

const hash = bcrypt.hashSync('pw', 8);

test('sources: IPv4 addresses, IPv6 /56s (one grouping for every login limit)', () => {
  assert.equal(sourceKey('10.1.2.3'), '10.1.2.3');
  assert.equal(sourceKey('::ffff:10.1.2.3'), '10.1.2.3');
  assert.equal(sourceKey('2001:db8:1:ab::1'), '2001:db8:1:0::/56');
  assert.equal(sourceKey('2001:db8:1:ff:1:2:3:4'), '2001:db8:1:0::/56');
  assert.equal(sourceKey('2001:db8:1:1ff::1'), '2001:db8:1:100::/56');
});

test('clean sources first; a source may have only a few checks waiting; a clean one bumps a failed source from a full queue', async () => {
  const pool = createBcryptPool({ size: 1, maxQueue: 8, maxPerSource: 2 });
  try {
    const order: string[] = [];
    const check = (name: string, source: string, clean: boolean) =>
      pool.compare('pw', hash, { source, clean }).then((ok) => (order.push(name), ok), (err: Error) => (order.push(`${name}:busy`), err));
    // One check running, then 8 waiting from four failed sources (two each: their cap).
    const running = check('first', 's0', false);
    const dirty = ['s1', 's2', 's3', 's4'].flatMap((s) => [check(`${s}a`, s, false), check(`${s}b`, s, false)]);
    const overCap = await pool.compare('pw', hash, { source: 's1', clean: false }).catch((e: unknown) => e);
    assert.ok(overCap instanceof BusyError, 'a third waiting check of one source is refused');
    assert.equal(pool.waiting, 8);
    // The queue is full: a clean source's check takes the newest failed one's place.
    const clean = check('clean', '10.9.9.9', true);
    // A failed source's check finds no room.
    const late = await pool.compare('pw', hash, { source: 's5', clean: false }).catch((e: unknown) => e);
    assert.ok(late instanceof BusyError);
    await Promise.all([running, clean, ...dirty]);
    assert.equal(order[0], 's4b:busy', 'the newest check of a failed source was bumped');
    assert.equal(order[1], 'first');
    assert.equal(order[2], 'clean', 'the clean check ran next, before every failed source');
    assert.deepEqual(order.slice(3), ['s1a', 's1b', 's2a', 's2b', 's3a', 's3b', 's4a']);
  } finally {
    await pool.close();
  }
});
