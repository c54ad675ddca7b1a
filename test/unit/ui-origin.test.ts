// The web UI's forgery check (src/ui/origin.ts), on a real HTTP server: a
// state-changing request passes only with this gateway's own Origin, a
// same-origin Sec-Fetch-Site where sent, and a JSON body.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkOrigin, isJson, ownOrigins } from '../../src/ui/origin.js';
import { UiError } from '../../src/ui/reply.js';

const allowed = ownOrigins('registry.test:5443', 'https://public.example');
const server = http.createServer((req, res) => {
  req.resume();
  try {
    checkOrigin(req, allowed);
    res.end('ok');
  } catch (err) {
    res.statusCode = (err as UiError).status;
    res.end((err as UiError).code);
  }
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
after(() => server.close());
const port = (server.address() as AddressInfo).port;

function send(method: string, headers: Record<string, string | string[]>, body?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request({ port, method, path: '/ui/api/x', headers }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve(`${res.statusCode} ${text}`));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('own origins: publicUrl and the Host the request came to; :443 dropped as browsers do', () => {
  assert.deepEqual(allowed, ['https://public.example', 'https://registry.test:5443']);
  assert.deepEqual(ownOrigins('registry.test:443', undefined), ['https://registry.test']);
  assert.deepEqual(ownOrigins('[::1]:5443', undefined), ['https://[::1]:5443']);
  assert.deepEqual(ownOrigins(undefined, undefined), []);
});

test('safe methods pass without an Origin: they change nothing', async () => {
  assert.equal(await send('GET', {}), '200 ok');
  assert.equal(await send('HEAD', { origin: 'https://evil.example' }), '200 ');
});

test('POST and DELETE: the own Origin passes; none, another, "null" or two are 403 ORIGIN', async () => {
  for (const method of ['POST', 'DELETE']) {
    assert.equal(await send(method, { origin: 'https://registry.test:5443' }), '200 ok', method);
    assert.equal(await send(method, { origin: 'https://public.example' }), '200 ok', method);
    for (const origin of [undefined, 'https://evil.example', 'null', 'http://registry.test:5443', 'https://registry.test:5444', 'https://registry.test:5443.evil.example']) {
      assert.equal(await send(method, origin ? { origin } : {}), '403 ORIGIN', `${method} ${origin}`);
    }
    assert.equal(await send(method, { origin: ['https://registry.test:5443', 'https://registry.test:5443'] }), '403 ORIGIN', 'two Origin headers');
  }
  assert.equal(await send('PUT', { origin: 'https://evil.example' }), '403 ORIGIN');
});

test('Sec-Fetch-Site, where the browser sends it, must be same-origin', async () => {
  const origin = 'https://registry.test:5443';
  assert.equal(await send('POST', { origin, 'sec-fetch-site': 'same-origin' }), '200 ok');
  assert.equal(await send('POST', { origin, 'sec-fetch-site': 'same-site' }), '403 ORIGIN');
  assert.equal(await send('POST', { origin, 'sec-fetch-site': 'cross-site' }), '403 ORIGIN');
});

test('a body must be JSON: a form (what a forged page can send without preflight) is 415', async () => {
  const origin = 'https://registry.test:5443';
  assert.equal(await send('POST', { origin, 'content-type': 'application/json' }, '{}'), '200 ok');
  assert.equal(await send('POST', { origin, 'content-type': 'application/json; charset=utf-8' }, '{}'), '200 ok');
  for (const type of ['application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x', 'application/jsonx', '']) {
    assert.equal(await send('POST', { origin, ...(type ? { 'content-type': type } : {}) }, 'a=1'), '415 CONTENT_TYPE', type);
  }
  assert.equal(await send('DELETE', { origin }), '200 ok', 'no body: no type needed');
  assert.ok(isJson('Application/JSON'));
  assert.ok(!isJson('application/json; charset=latin1'));
});
