// Readiness as Kubernetes probes it (deploy/kubernetes: /readyz?exclude=
// upstream,certificate,redis on the metrics port) while the one registry
// every replica shares restarts: the pod stays in the Service, clients get
// the gateway's JSON 503 rather than a refused connection, /trust/ still
// answers, and registry_gateway_upstream_up says what readiness no longer
// does; when the registry is back, requests pass again.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startGateway } from '../helpers/gateway.js';
import { request } from '../helpers/https.js';
import { freePort, startRegistry } from '../helpers/registry.js';
import { stage } from '../helpers/stage.js';
import { eventually } from '../helpers/eventually.js';

const { work, htpasswd, ca, tls } = await stage({ alice: 'alice-pw' });
const storage = join(work, 'storage');
const port = await freePort();
let registry = await startRegistry(work, { storage, port });
after(() => registry.stop());
const metricsPort = await freePort();
const gw = await startGateway(work, {
  upstream: registry.url, tls, auth: { mode: 'htpasswd', htpasswd }, metrics: { listen: `127.0.0.1:${metricsPort}` },
});
after(() => gw.stop());
const PROBE = '/readyz?exclude=upstream,certificate,redis';
const plain = async (path: string) => {
  const r = await fetch(`http://127.0.0.1:${metricsPort}${path}`);
  return { status: r.status, body: await r.text() };
};
const upstreamUp = async () => Number(/^registry_gateway_upstream_up (\d+)$/m.exec((await plain('/metrics')).body)?.[1]);

test('the registry down: the probe stays ready, clients get a JSON 503, /trust/ answers, upstream_up is 0', async () => {
  assert.equal((await plain(PROBE)).status, 200);
  assert.equal(await upstreamUp(), 1);
  await registry.stop();
  const full = await eventually(async () => {
    const r = await plain('/readyz');
    assert.equal(r.status, 503);
    return r;
  });
  assert.match(full.body, /upstream registry unreachable/, '/readyz without exclude= still reports it');
  const probe = await plain(PROBE);
  assert.equal(probe.status, 200, `the Kubernetes readiness probe: ${probe.body}`);
  const live = await plain('/livez');
  assert.equal(live.status, 200);
  assert.equal(await upstreamUp(), 0);
  const pull = await request(`${gw.url}/v2/alice/app/manifests/1`, { ca, user: 'alice:alice-pw' });
  assert.equal(pull.status, 503);
  assert.match(String(pull.headers['content-type']), /application\/json/);
  assert.ok(Array.isArray(pull.json().errors), `a registry error body: ${pull.body}`);
  assert.equal((await request(`${gw.url}/trust/ca.crt`, { ca })).status, 200, '/trust/ does not need the registry');
});

test('the registry back: upstream_up is 1 and requests pass again', async () => {
  registry = await startRegistry(work, { storage, port });
  await eventually(async () => assert.equal(await upstreamUp(), 1));
  const v2 = await request(`${gw.url}/v2/`, { ca, user: 'alice:alice-pw' });
  assert.equal(v2.status, 200);
  assert.equal((await plain('/readyz')).status, 200);
});
