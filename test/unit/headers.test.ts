// registry/headers.ts: what the upstream reads is written from a strict parse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildHeaders, connectionHeader, type HeaderContext } from '../../src/registry/headers.js';
import type { Route } from '../../src/registry/routes.js';

const repo = (resource: Extract<Route, { kind: 'repository' }>['resource']): Route => ({ kind: 'repository', name: 'a/b', resource });
const ctx = (method: string, route: Route, more: Partial<HeaderContext> = {}): HeaderContext =>
  ({ method, route, body: false, forwardsCredentials: false, ...more });
const built = (headers: Record<string, string>, c: HeaderContext) => {
  const r = buildHeaders(headers, c);
  assert.ok(!('kind' in r), `refused: ${'message' in r ? r.message : ''}`);
  return r.headers;
};
const refused = (headers: Record<string, string>, c: HeaderContext) => {
  const r = buildHeaders(headers, c);
  assert.ok('kind' in r, `not refused: ${JSON.stringify(headers)}`);
  return r;
};
// Node hands header values over as latin1: one char per byte.
const latin1 = (s: string) => Buffer.from(s, 'utf8').toString('latin1');

test('uploads: Content-Type is the gateway\'s, whatever the client sent', () => {
  for (const type of ['application/x-www-form-urlencoded', latin1('application/x-www-form-urlencoded\u00a0'),
    latin1('appl\u0130cation/x-www-form-urlencoded'), 'multipart/form-data; boundary=x', '']) {
    for (const method of ['POST', 'PATCH', 'PUT']) {
      assert.equal(built({ 'content-type': type }, ctx(method, repo('uploads')))['content-type'], 'application/octet-stream', `${method} ${type}`);
    }
  }
  assert.equal(built({ 'content-type': 'application/json' }, ctx('GET', repo('uploads')))['content-type'], undefined);
  assert.equal(built({ 'content-type': 'application/json' }, ctx('GET', repo('manifests')))['content-type'], undefined);
});

test('manifest PUT: one media type, lowercased, parameters dropped; forms and non-ASCII refused', () => {
  const put = ctx('PUT', repo('manifests'), { body: true });
  assert.equal(built({ 'content-type': 'Application/VND.oci.image.manifest.v1+json; charset=utf-8' }, put)['content-type'],
    'application/vnd.oci.image.manifest.v1+json');
  assert.deepEqual(built({}, put), {});
  for (const type of ['application/x-www-form-urlencoded', 'multipart/form-data; boundary=b', 'text', 'a/b c', 'a/b, c/d',
    latin1('application/json\u00a0'), latin1('application/json\u0085'), 'a/b; =x']) {
    const r = refused({ 'content-type': type }, put);
    assert.equal(r.code, type.includes('\u00c2') ? 'UNSUPPORTED' : 'MANIFEST_INVALID', type);
    assert.match(r.message, /Content-Type/i);
  }
});

test('every byte outside visible ASCII in a header the registry reads is a 400', () => {
  for (let b = 0; b < 256; b++) {
    const value = `application/json${String.fromCharCode(b)}x`;
    const ok = b === 9 || (b >= 0x20 && b <= 0x7e);
    const r = buildHeaders({ accept: value }, ctx('GET', repo('manifests')));
    if (!ok) assert.equal('kind' in r && r.status, 400, `byte ${b}`);
  }
  // A header the registry does not read on this route is never looked at, nor sent.
  assert.deepEqual(built({ accept: latin1('a/b\u00a0'), range: latin1('\u2028') }, ctx('PUT', repo('uploads'))), { 'content-type': 'application/octet-stream' });
});

test('Accept: media ranges re-serialized with their weights', () => {
  const get = ctx('GET', repo('manifests'));
  assert.equal(built({ accept: 'Application/VND.OCI.image.index.v1+json;q=0.5 , */*;Q=0.1,, application/json;charset=x' }, get).accept,
    'application/vnd.oci.image.index.v1+json;q=0.5, */*;q=0.1, application/json');
  for (const accept of ['text', 'a/b;q=2', 'a/b;q=x', '/b', 'a/', `${'a/b,'.repeat(33)}`]) refused({ accept }, get);
});

test('Range, Content-Range, If-*: written from their grammar', () => {
  const blob = ctx('GET', repo('blobs'));
  assert.equal(built({ range: 'Bytes=0-9, 20-,-5' }, blob).range, 'bytes=0-9,20-,-5');
  for (const range of ['bytes=-', 'bytes=a-b', 'items=0-1', 'bytes=0-1;x', 'bytes 0-1']) assert.equal(refused({ range }, blob).status, 416);
  assert.equal(built({ range: 'bytes=0-1' }, ctx('GET', repo('manifests'))).range, undefined, 'manifests are not ranged');
  const patch = ctx('PATCH', repo('uploads'), { body: true });
  assert.equal(built({ 'content-range': '000-99' }, patch)['content-range'], '0-99');
  for (const cr of ['bytes 0-99/*', '0-', '-1', '0-99/100']) refused({ 'content-range': cr }, patch);
  assert.equal(built({ 'if-none-match': '"sha256:ab" ,W/"x"' }, blob)['if-none-match'], '"sha256:ab", W/"x"');
  assert.equal(built({ 'if-match': '*' }, blob)['if-match'], '*');
  for (const tag of ['sha256:ab', '"a" "b"', '"a"x', '"a\\"b"', ',']) refused({ 'if-none-match': tag }, blob);
  assert.equal(built({ 'if-modified-since': 'Sun, 06 Nov 1994 08:49:37 GMT' }, blob)['if-modified-since'], 'Sun, 06 Nov 1994 08:49:37 GMT');
  for (const date of ['Sunday, 06-Nov-94 08:49:37 GMT', 'Sun Nov  6 08:49:37 1994', 'yesterday']) refused({ 'if-modified-since': date }, blob);
});

test('framing and credentials: only where a body or the upstream\'s own auth needs them', () => {
  const put = ctx('PUT', repo('manifests'), { body: true });
  assert.deepEqual(built({ 'content-length': '007', 'transfer-encoding': 'Chunked' }, put), { 'content-length': '7', 'transfer-encoding': 'chunked' });
  refused({ 'transfer-encoding': 'gzip, chunked' }, put);
  assert.deepEqual(built({ 'content-length': '5', authorization: 'Basic YTpi', expect: '100-continue', cookie: 'x' }, ctx('GET', repo('tags'))), {});
  const none = ctx('GET', repo('tags'), { forwardsCredentials: true });
  assert.equal(built({ authorization: 'bearer  abc.def-_~+/=' }, none).authorization, 'Bearer abc.def-_~+/=');
  assert.equal(refused({ authorization: 'Basic a b' }, none).status, 401);
});

test('Connection: the close token only', () => {
  assert.equal(connectionHeader({ connection: 'Upgrade, CLOSE' }), 'close');
  assert.equal(connectionHeader({ connection: 'keep-alive' }), 'keep-alive');
  assert.equal(connectionHeader({ connection: 'x-secret' }), undefined);
  assert.equal(connectionHeader({}), undefined);
});
