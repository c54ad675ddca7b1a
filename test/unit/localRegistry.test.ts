// What `gateway up` forwards from its local docker-registry: every line but
// the level=error one distribution writes for each HEAD of a missing blob,
// which every push makes. The last test runs the real registry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { routineLine, startLocalRegistry } from '../../src/server/localRegistry.js';
import { freePort } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';

const DIGEST = `sha256:${'0'.repeat(64)}`;
// As distribution 2.8.2 (Debian's docker-registry) writes them, trimmed of request ids and times.
const line = (method: string, code: string) => `time="2026-12-01T20:55:24Z" level=error msg="response completed with error" ` +
  `err.code="${code}" err.detail="${DIGEST}" err.message="blob unknown to registry" go.version=go1.19.8 ` +
  `http.request.host="127.0.0.1:5000" http.request.method=${method} http.request.uri="/v2/a/b/blobs/${DIGEST}" http.response.status=404`;

test('the HEAD of a missing blob is routine; a GET of one, other errors and warnings are not', () => {
  assert.equal(routineLine(line('HEAD', 'blob unknown')), true);
  assert.equal(routineLine(line('GET', 'blob unknown')), false);
  assert.equal(routineLine(line('HEAD', 'manifest unknown')), false);
  assert.equal(routineLine(line('HEAD', 'blob unknown').replace('level=error', 'level=warning')), false);
  assert.equal(routineLine('time="2026-12-01T20:55:23Z" level=warning msg="No HTTP secret provided"'), false);
});

test('the real registry: a HEAD of a missing blob prints nothing, a GET of one still does', async () => {
  const dir = await tempDir();
  const lines: string[] = [];
  const registry = await startLocalRegistry(dir, await freePort(), (l) => lines.push(l));
  try {
    const ask = (method: string) => new Promise<number>((done, fail) => {
      http.request(`${registry.url}/v2/a/b/blobs/${DIGEST}`, { method, agent: false }, (res) => {
        res.resume();
        res.once('end', () => done(res.statusCode ?? 0));
      }).once('error', fail).end();
    });
    assert.equal(await ask('HEAD'), 404);
    assert.equal(await ask('GET'), 404);
    // The GET's line is the marker that the HEAD's, written before it, was read and dropped.
    const deadline = Date.now() + 5_000;
    while (!lines.some((l) => l.includes('http.request.method=GET')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(lines.some((l) => l.includes('err.code="blob unknown"') && l.includes('http.request.method=GET')), lines.join('\n'));
    assert.deepEqual(lines.filter((l) => l.includes('http.request.method=HEAD')), []);
  } finally {
    await registry.stop();
  }
});
