// The request path's steps, each alone: a context in, a verdict out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { access, host, mount, query, route, share, body, headers as headersStep, type Context, type HandlerOptions } from '../../src/proxy/handler.js';
import { createShares } from '../../src/proxy/shares.js';

const D = `sha256:${'a'.repeat(64)}`;
function context(method: string, url: string, headers: Record<string, string> = { host: 'reg.test' }): Context {
  const q = url.indexOf('?');
  const req = { method, url, headers, rawHeaders: Object.entries(headers).flat(), socket: { remoteAddress: '10.0.0.1' }, complete: true } as unknown as IncomingMessage;
  const res = { once: () => undefined } as unknown as ServerResponse;
  return { req, res, method, path: q === -1 ? url : url.slice(0, q), rawQuery: q === -1 ? '' : url.slice(q + 1), entry: {}, expectContinue: false };
}
const opts = { controller: { forwardsCredentials: false }, hostAllowed: (h: string) => h === 'reg.test', shares: createShares({ perAddress: 1, perAccount: 5, anonymous: 5 }) } as unknown as HandlerOptions;

/** Runs the parsing steps up to access, as the handler does. */
function parsed(method: string, url: string, headers?: Record<string, string>): Context {
  const ctx = context(method, url, headers);
  for (const step of [host, route, query, body, headersStep, access]) assert.equal(step(ctx, opts), undefined, `${method} ${url}`);
  return ctx;
}

test('host: only a Host the certificate names', () => {
  assert.equal(host(context('GET', '/v2/'), opts), undefined);
  assert.equal((host(context('GET', '/v2/', { host: 'evil.test' }), opts) as { status: number }).status, 400);
});

test('route, query, access: the mount source is an optional access', () => {
  const ctx = parsed('POST', `/v2/b/blobs/uploads/?mount=${D}&from=a`);
  assert.deepEqual(ctx.entry, { repository: 'b', action: 'push', kind: 'push', moves: 'other' });
  assert.deepEqual(ctx.access, [{ type: 'repository', name: 'b', actions: ['pull', 'push'] }, { type: 'repository', name: 'a', actions: ['pull'], optional: true }]);
  assert.deepEqual([...ctx.params!], [['mount', D], ['from', 'a']]);
});

test('query refuses what Go would read differently', () => {
  for (const q of [`mount=${D}&from=a&from=b`, 'from=a%zz', `mount=${D};from=a`]) {
    const ctx = context('POST', `/v2/b/blobs/uploads/?${q}`);
    route(ctx, opts);
    assert.equal((query(ctx, opts) as { status: number }).status, 400, q);
  }
});

test('mount: a source the grant lacks is dropped; a granted one stays', () => {
  const refused = parsed('POST', `/v2/b/blobs/uploads/?mount=${D}&from=a`);
  refused.decision = { kind: 'grant', account: 'u', granted: [refused.access![0]!] };
  mount(refused, opts);
  assert.deepEqual([...refused.params!], []);
  const granted = parsed('POST', `/v2/b/blobs/uploads/?mount=${D}&from=a`);
  granted.decision = { kind: 'grant', account: 'u', granted: granted.access! };
  mount(granted, opts);
  assert.deepEqual([...granted.params!.keys()], ['mount', 'from']);
});

test('headers: what the registry reads is built before auth; a byte Go would read otherwise is a 400', () => {
  const upload = parsed('POST', `/v2/b/blobs/uploads/?digest=${D}`, { host: 'reg.test', 'content-type': 'application/x-www-form-urlencoded\u00c2\u00a0',
    'content-length': '3', accept: '*/*', 'x-forwarded-host': 'evil', cookie: 'c' });
  assert.deepEqual(upload.headers, { 'content-type': 'application/octet-stream', 'content-length': '3' });
  assert.equal(upload.body, true);
  const manifest = context('GET', '/v2/b/manifests/1', { host: 'reg.test', accept: 'application/json\u00c2\u0085' });
  for (const step of [host, route, query, body]) step(manifest, opts);
  const refused = headersStep(manifest, opts) as { status: number; message: string };
  assert.equal(refused.status, 400);
  assert.match(refused.message, /accept header/);
});

test('body: a mount carries no body; a body on a bodiless route is refused', () => {
  const mounting = context('POST', `/v2/b/blobs/uploads/?digest=${D}&mount=${D}&from=a`, { host: 'reg.test', 'content-length': '3' });
  route(mounting, opts);
  query(mounting, opts);
  assert.equal((body(mounting, opts) as { status: number }).status, 400);

  const form = context('POST', '/v2/b/blobs/uploads/', { host: 'reg.test', 'content-type': 'application/x-www-form-urlencoded', 'content-length': '3' });
  route(form, opts);
  query(form, opts);
  assert.equal((body(form, opts) as { status: number }).status, 400, 'no digest: not a monolithic upload');
  const get = context('GET', '/v2/b/tags/list', { host: 'reg.test', 'content-length': '10' });
  route(get, opts);
  query(get, opts);
  assert.equal((body(get, opts) as { status: number }).status, 400);
});

test('share: the second request in flight from one address (limit 1) gets 429', () => {
  const first = parsed('GET', '/v2/b/tags/list');
  first.decision = { kind: 'grant', account: 'u', granted: [] };
  assert.equal(share(first, opts), undefined);
  const second = parsed('GET', '/v2/b/tags/list');
  second.decision = { kind: 'grant', account: 'v', granted: [] };
  assert.equal((share(second, opts) as { status: number }).status, 429);
});
