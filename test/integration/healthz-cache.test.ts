// /healthz reuses /readyz's cached upstream probe (issue 21, item 4): any
// number of anonymous calls, from any number of addresses, cost the
// upstream at most one request a second. A counting pass-through between
// gateway and docker-registry counts what reaches the upstream.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { join } from 'node:path';
import { countingProxy } from '../helpers/countingProxy.js';
import { startGateway } from '../helpers/gateway.js';
import { request } from '../helpers/https.js';
import { startRegistry } from '../helpers/registry.js';
import { stage } from '../helpers/stage.js';

const { work, htpasswd, ca, tls } = await stage({ alice: 'alice-pw' });
const registry = await startRegistry(work, { storage: join(work, 'storage') });
const counter = await countingProxy(registry.url);
const gw = await startGateway(work, { upstream: counter.url, tls, auth: { mode: 'htpasswd', htpasswd } });
after(async () => {
  await gw.stop();
  await counter.stop();
  await registry.stop();
});

test('thousands of /healthz and /readyz calls in 3 s from two addresses: at most one upstream request a second', async () => {
  counter.reset();
  const agents = ['127.0.0.61', '127.0.0.62'].map((localAddress) => new https.Agent({ keepAlive: true, maxSockets: 16, ca, localAddress }));
  const statuses: Record<string, number> = {};
  const started = performance.now();
  const end = Date.now() + 3000;
  await Promise.all(agents.flatMap((agent) => Array.from({ length: 16 }, async (_, i) => {
    while (Date.now() < end) {
      const r = await request(`${gw.url}${i % 2 ? '/healthz' : '/readyz'}`, { ca, agent });
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    }
  })));
  const seconds = (performance.now() - started) / 1000;
  agents.forEach((a) => a.destroy());
  const upstream = counter.count((l) => l === 'GET /v2/');
  const calls = Object.values(statuses).reduce((a, b) => a + b, 0);
  console.log(`[healthz] ${calls} calls in ${seconds.toFixed(1)} s (${JSON.stringify(statuses)}): ${upstream} upstream requests`);
  assert.deepEqual(Object.keys(statuses), ['200']);
  assert.ok(calls > 200, `${calls} calls`);
  assert.ok(upstream <= Math.ceil(seconds) + 1, `${upstream} upstream requests in ${seconds.toFixed(1)} s`);
  const h = await request(`${gw.url}/healthz`, { ca });
  assert.deepEqual(h.json(), { status: 'ok', upstream: { reachable: true } });
});
