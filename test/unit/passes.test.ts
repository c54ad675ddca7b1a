import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { forwardingHeaders, hostPort, rewriteLocation, servedPort, validHost } from '../../src/proxy/passes.js';

const req = (headers: Record<string, string>, url = '/v2/') => ({ headers: { ...headers }, url }) as unknown as IncomingMessage;

test('forwarding headers are the gateway\'s: the host it certified and the client it saw', () => {
  assert.deepEqual(forwardingHeaders('reg.test:5443', '10.0.0.7'),
    { host: 'reg.test:5443', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'reg.test:5443', 'x-forwarded-for': '10.0.0.7' });
});

test('Host must be a plain host[:port]', () => {
  for (const host of ['reg.test', 'reg.test:5443', '127.0.0.1:5443', '[::1]:5443', 'localhost']) assert.ok(validHost(req({ host })), host);
  for (const host of ['', 'evil.test/x', 'a@b', 'reg.test:5443/path', 'a b', 'reg.test:abc', '-x.test', 'x'.repeat(300)]) assert.ok(!validHost(req({ host })), host);
  assert.ok(!validHost(req({})));
});

test('Location: upstream origin rewritten on 201, 202 and 3xx; relative and foreign ones untouched', () => {
  const up = 'http://127.0.0.1:5000';
  const pub = 'https://reg.test:5443';
  for (const status of [201, 202, 307]) {
    const h: NodeJS.Dict<string> = { location: 'http://127.0.0.1:5000/v2/a/blobs/uploads/u?_state=s' };
    rewriteLocation(status, h, up, pub);
    assert.equal(h.location, 'https://reg.test:5443/v2/a/blobs/uploads/u?_state=s');
  }
  for (const [status, location] of [[202, '/v2/a/blobs/uploads/u'], [307, 'https://storage.example/blob?sig=1'], [200, 'http://127.0.0.1:5000/v2/x'], [202, 'http://127.0.0.1:5001/v2/x']] as const) {
    const h: NodeJS.Dict<string> = { location };
    rewriteLocation(status, h, up, pub);
    assert.equal(h.location, location);
  }
});

test('Host ports: only the listening one, 443 or none is served; a port past 65535 is no valid Host', () => {
  assert.ok(servedPort('reg.test', 5443));
  assert.ok(servedPort('reg.test:5443', 5443));
  assert.ok(servedPort('reg.test:443', 5443));
  assert.ok(servedPort('[::1]:5443', 5443));
  assert.ok(!servedPort('reg.test:1', 5443));
  assert.ok(!servedPort('[::1]:5444', 5443));
  assert.equal(hostPort('[::1]'), undefined);
  for (const host of ['reg.test:65536', 'reg.test:99999']) assert.ok(!validHost(req({ host })), host);
  assert.ok(validHost(req({ host: 'reg.test:65535' })));
});
