// Authorization headers are read one way only: the scheme's case and spaces or
// tabs around the credentials do not matter; anything else that was sent is
// refused (never taken for "no credentials"), and so is a second header.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBasic } from '../../src/auth/basic.js';
import { parseBearer, tokenCache } from '../../src/token/bearer.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const alice = { user: 'alice', password: 'pw:with:colons' };

test('parseBasic: scheme case, spaces and tabs: the same user', () => {
  const creds = b64('alice:pw:with:colons');
  const schemes = ['Basic ', 'basic ', 'BASIC ', 'bAsIc ', 'Basic   ', 'Basic \t ', 'Basic\t', ' Basic '];
  const same = schemes.map((scheme) => `${scheme}${creds}`);
  for (const header of [...same, `Basic ${creds}   `, `Basic ${creds}\t`, [`Basic ${creds}`]]) {
    assert.deepEqual(parseBasic(header), alice, JSON.stringify(header));
  }
});

test('parseBasic: nothing sent is anonymous; anything sent that is not one Basic credential is malformed', () => {
  assert.equal(parseBasic(undefined), undefined);
  const creds = b64('alice:pw');
  for (const header of [
    '', ' ', 'Basic', 'Basic ', `Basic${creds}`, `Bearer ${creds}`, `Basic ${creds} extra`, `Basic ${creds.slice(0, -1)}=x`,
    `Basic ${b64(':pw')}`, `Basic ${b64('nocolon')}`, 'Basic !!!!', `Basic\u00a0${creds}`, `Basic\v${creds}`, `Digest ${creds}`,
    [`Basic ${creds}`, `Basic ${creds}`], [`Basic ${creds}`, `Basic ${b64('bob:pw')}`], [],
  ]) {
    assert.equal(parseBasic(header), 'malformed', JSON.stringify(header));
  }
  assert.deepEqual(parseBasic(`Basic ${b64('alice:')}`), { user: 'alice', password: '' }, 'an empty password is still a credential');
  // What skopeo and podman send with no credentials at all: nothing, so "authentication required".
  assert.equal(parseBasic('Basic Og=='), undefined);
  assert.equal(parseBasic([`Basic ${b64(':')}`, `Basic ${b64(':')}`]), 'malformed', 'twice is still malformed');
});

test('parseBearer: scheme case, spaces and tabs: the same token; anything else or a second header: none (challenged)', () => {
  const token = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2ln-_x~+/==';
  const same = ['Bearer ', 'bearer ', 'BEARER ', 'Bearer  \t'].map((scheme) => `${scheme}${token}`);
  for (const header of [...same, `Bearer ${token}  `, [`Bearer ${token}`]]) {
    assert.equal(parseBearer(header), token, JSON.stringify(header));
  }
  const doubled = [`Bearer ${token}`, `Bearer ${token}`];
  const refused = [undefined, '', 'Bearer', 'Bearer ', `Bearer${token}`, `Basic ${token}`, `Bearer ${token} x`, 'Bearer a=b', 'Bearer ""'];
  for (const header of [...refused, doubled, []]) {
    assert.equal(parseBearer(header), undefined, JSON.stringify(header));
  }
});

test('token cache: bounded by entries and by bytes, oldest evicted first', () => {
  const claims = { subject: 's', access: [], expires: 0 };
  const cache = tokenCache(3, 100);
  for (const t of ['a', 'b', 'c', 'd']) cache.set(t.repeat(10), claims);
  assert.deepEqual([cache.size, cache.bytes, cache.get('a'.repeat(10))], [3, 30, undefined], 'entries: the oldest went');
  cache.set('e'.repeat(85), claims);
  assert.deepEqual([cache.size, cache.bytes], [2, 95], 'bytes: the two oldest went');
  assert.ok(cache.get('d'.repeat(10)) && cache.get('e'.repeat(85)));
  cache.set('f'.repeat(101), claims);
  assert.deepEqual([cache.size, cache.bytes], [2, 95], 'a token larger than the whole cache is not kept');
  cache.set('d'.repeat(10), claims);
  assert.deepEqual([cache.size, cache.bytes], [2, 95], 'setting again does not count twice');
  cache.drop('e'.repeat(85));
  assert.deepEqual([cache.size, cache.bytes], [1, 10]);
});
