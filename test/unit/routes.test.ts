import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRoute, requiredAccess } from '../../src/registry/routes.js';

const D = `sha256:${'a'.repeat(64)}`;

test('valid registry paths parse to their repository and resource', () => {
  assert.deepEqual(parseRoute('/v2/'), { kind: 'base' });
  assert.deepEqual(parseRoute('/v2/_catalog'), { kind: 'catalog' });
  assert.deepEqual(parseRoute('/v2/library/alpine/manifests/3.20'), { kind: 'repository', name: 'library/alpine', resource: 'manifests', reference: '3.20' });
  assert.deepEqual(parseRoute(`/v2/a/manifests/${D}`), { kind: 'repository', name: 'a', resource: 'manifests', reference: D });
  assert.deepEqual(parseRoute(`/v2/a/b-c/d__e/blobs/${D}`), { kind: 'repository', name: 'a/b-c/d__e', resource: 'blobs', reference: D });
  assert.deepEqual(parseRoute('/v2/a/blobs/uploads/'), { kind: 'repository', name: 'a', resource: 'uploads' });
  assert.deepEqual(parseRoute('/v2/a/blobs/uploads/6f4e-ab_c='), { kind: 'repository', name: 'a', resource: 'uploads' });
  assert.deepEqual(parseRoute('/v2/a/tags/list'), { kind: 'repository', name: 'a', resource: 'tags' });
  assert.deepEqual(parseRoute(`/v2/a/referrers/${D}`), { kind: 'repository', name: 'a', resource: 'referrers', reference: D });
});

test('anything else is refused before the upstream sees it', () => {
  for (const path of ['/v2/a/../b/tags/list', '/v2/a/%2e%2e/tags/list', '/v2/a%2fb/tags/list', '/v2/A/tags/list', '/v2//a/tags/list',
    '/v2/a/tags/list/', '/v2/-a/tags/list', '/v2/a./tags/list', '/v2/a/manifests/', '/v2/a/blobs/notadigest', '/v1/_ping', '/', '/v2/a b/tags/list',
    `/v2/${'a/'.repeat(130)}b/tags/list`]) {
    assert.equal(parseRoute(path).kind, 'invalid', path);
  }
  const long = parseRoute(`/v2/${'a'.repeat(256)}/tags/list`);
  assert.deepEqual(long.kind === 'invalid' && [long.status, long.code], [400, 'NAME_INVALID']);
});

test('a malformed digest is 400 DIGEST_INVALID; a reference that is no tag is 404 MANIFEST_UNKNOWN; each names the expected form', () => {
  const cases: [string, string, RegExp][] = [
    ['/v2/a/manifests/sha256:totallywrong', 'DIGEST_INVALID', /expected 64 lowercase hex digits/],
    [`/v2/a/manifests/sha256:${'A'.repeat(64)}`, 'DIGEST_INVALID', /lowercase hex/],
    ['/v2/a/manifests/md5:abc', 'DIGEST_INVALID', /expected sha256:<64 hex digits>/],
    ['/v2/a/manifests/-tag', 'MANIFEST_UNKNOWN', /neither a tag/],
    [`/v2/a/manifests/${'t'.repeat(129)}`, 'MANIFEST_UNKNOWN', /neither a tag/],
    ['/v2/a/blobs/notadigest', 'DIGEST_INVALID', /not a digest/],
    ['/v2/a/referrers/sha256:abc', 'DIGEST_INVALID', /64 lowercase hex/],
  ];
  for (const [path, code, message] of cases) {
    const r = parseRoute(path);
    assert.ok(r.kind === 'invalid', path);
    assert.deepEqual([r.status, r.code], [code === 'MANIFEST_UNKNOWN' ? 404 : 400, code], path);
    assert.match(r.message, message, path);
  }
  assert.equal((parseRoute(`/v2/a/manifests/sha512:${'f'.repeat(128)}`) as { reference?: string }).reference, `sha512:${'f'.repeat(128)}`);
});

test('methods map to actions as distribution does', () => {
  const r = parseRoute('/v2/a/blobs/uploads/');
  const q = new URLSearchParams();
  assert.deepEqual(requiredAccess('GET', parseRoute('/v2/a/tags/list') as never, q), [{ type: 'repository', name: 'a', actions: ['pull'] }]);
  assert.deepEqual(requiredAccess('HEAD', parseRoute(`/v2/a/blobs/${D}`) as never, q)![0]!.actions, ['pull']);
  for (const m of ['POST', 'PUT', 'PATCH']) assert.deepEqual(requiredAccess(m, r as never, q)![0]!.actions, ['pull', 'push']);
  assert.deepEqual(requiredAccess('DELETE', parseRoute(`/v2/a/manifests/${D}`) as never, q)![0]!.actions, ['delete']);
  assert.deepEqual(requiredAccess('GET', { kind: 'base' }, q), []);
  assert.deepEqual(requiredAccess('GET', { kind: 'catalog' }, q), [{ type: 'registry', name: 'catalog', actions: ['*'] }]);
  assert.equal(requiredAccess('TRACE', r as never, q), undefined);
  assert.equal(requiredAccess('POST', { kind: 'base' }, q), undefined);
});

test('a mount asks for pull on its source, optionally', () => {
  const [path, query] = ['/v2/b/blobs/uploads/', new URLSearchParams(`mount=${D}&from=a/src`)];
  assert.deepEqual(requiredAccess('POST', parseRoute(path) as never, query), [
    { type: 'repository', name: 'b', actions: ['pull', 'push'] },
    { type: 'repository', name: 'a/src', actions: ['pull'], optional: true },
  ]);
});
