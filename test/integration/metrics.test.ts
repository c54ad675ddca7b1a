// Metrics as an operator gets them: a real gateway in front of a real
// docker-registry, requests through it (good, wrong passwords, throttled
// guesses, a skopeo push), and Debian's real Prometheus scraping the
// gateway's metrics listener every second; the counts come back from
// Prometheus' HTTP API. Then the same with --workers 2: the primary's
// /metrics is the sum of both workers.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exec, gateway as gatewayCli } from '../helpers/exec.js';
import { startGateway } from '../helpers/gateway.js';
import { request } from '../helpers/https.js';
import { buildImage, skopeoPolicy } from '../helpers/oci.js';
import { startPrometheus, type Sample } from '../helpers/prometheus.js';
import { freePort, startRegistry } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';

const work = await tempDir();
const certs = join(work, 'certs');
const htpasswd = join(work, 'htpasswd');
assert.equal((await gatewayCli(['certs', 'init', '--dir', certs, '--host', 'localhost', '--host', '127.0.0.1'])).code, 0);
assert.equal((await gatewayCli(['users', 'add', 'alice', '--password-stdin', '--file', htpasswd, '--cost', '4'], { input: 'alice-pw' })).code, 0);
const ca = await readFile(join(certs, 'ca.crt'), 'utf8');
const registry = await startRegistry(work, { storage: join(work, 'storage') });
const base = {
  upstream: registry.url,
  tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') },
  auth: { mode: 'htpasswd', htpasswd },
  access: [{ account: 'alice', name: '**', actions: ['*'] }],
};
const singleMetrics = await freePort();
const workersMetrics = await freePort();
const single = await startGateway(work, { ...base, metrics: { listen: `127.0.0.1:${singleMetrics}` } });
const multi = await startGateway(work, { ...base, metrics: { listen: `127.0.0.1:${workersMetrics}` } }, { args: ['--workers', '2'] });
await multi.waitFor((e) => e.msg === 'all workers listening', 0, 15_000);
const prometheus = await startPrometheus(work, { single: [`127.0.0.1:${singleMetrics}`], workers: [`127.0.0.1:${workersMetrics}`] });
after(async () => {
  await prometheus.stop();
  await single.stop();
  await multi.stop();
  await registry.stop();
});

const alice = { ca, user: 'alice:alice-pw' };
const value = (r: Sample[]) => (r.length === 1 ? Number(r[0]!.value[1]) : NaN);
const is = (n: number) => (r: Sample[]) => value(r) === n;
const series = (name: string, job: string, labels: Record<string, string> = {}) =>
  `${name}{job="${job}"${Object.entries(labels).map(([k, v]) => `,${k}="${v}"`).join('')}}`;

function plainGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false, headers }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
    }).on('error', reject);
  });
}

test('Prometheus scrapes the request counter with method, action and code, and it matches the requests made', async () => {
  for (let i = 0; i < 4; i++) assert.equal((await request(`${single.url}/v2/_catalog`, alice)).status, 200);
  // Ten wrong passwords from one address, then two more that the throttle answers.
  for (let i = 0; i < 10; i++) {
    assert.equal((await request(`${single.url}/v2/_catalog`, { ca, user: `guess${i}:wrong`, localAddress: '127.0.0.2' })).status, 401);
  }
  for (let i = 0; i < 2; i++) {
    assert.equal((await request(`${single.url}/v2/_catalog`, { ca, user: 'alice:guess', localAddress: '127.0.0.2' })).status, 429);
  }
  const catalog = (code: string) => series('registry_gateway_requests_total', 'single', { method: 'GET', action: 'catalog', code });
  const ok = await prometheus.until(catalog('200'), is(4));
  assert.deepEqual(Object.keys(ok[0]!.metric).sort(), ['__name__', 'action', 'code', 'instance', 'job', 'method', 'source']);
  assert.equal(ok[0]!.metric.source, 'gateway', 'the catalog is paginated by the gateway: its own answer');
  await prometheus.until(catalog('401'), is(10));
  await prometheus.until(catalog('429'), is(2));
  await prometheus.until(series('registry_gateway_auth_failures_total', 'single', { reason: 'bad_password' }), is(10));
  await prometheus.until(series('registry_gateway_throttled_requests_total', 'single', { limit: 'logins' }), is(2));
  // The latency histogram has every request in it.
  await prometheus.until(series('registry_gateway_request_duration_seconds_count', 'single', { action: 'catalog' }), is(16));
  // No label holds a repository or a user name.
  const names = await prometheus.query('count by (__name__) ({job="single", __name__=~"registry_gateway_.*"})');
  assert.ok(names.length > 20, 'our metrics and the process ones are scraped');
  const labels = await prometheus.query('{job="single", __name__=~"registry_gateway_(requests|auth_failures|throttled_requests)_total"}');
  for (const s of labels) assert.doesNotMatch(JSON.stringify(s.metric), /alice|guess/);
});

test('a skopeo push shows up as push requests and its bytes received', async () => {
  const MiB = 1024 * 1024;
  const layout = await buildImage(join(work, 'image'), 'v1', [3 * MiB]);
  const policy = await skopeoPolicy(work);
  const env = { ...process.env, HOME: work, XDG_RUNTIME_DIR: work };
  const before = value(await prometheus.query(series('registry_gateway_received_bytes_total', 'single', { action: 'push' }))) || 0;
  const trusted = join(work, 'trusted');
  await mkdir(trusted, { recursive: true });
  await copyFile(join(certs, 'ca.crt'), join(trusted, 'ca.crt'));
  const push = await exec('skopeo', ['--policy', policy, 'copy', '--dest-cert-dir', trusted,
    '--dest-creds', 'alice:alice-pw', `oci:${layout}:v1`, `docker://127.0.0.1:${single.port}/alice/app:v1`], { env, timeoutMs: 120_000 });
  assert.equal(push.code, 0, push.stderr);
  const received = await prometheus.until(series('registry_gateway_received_bytes_total', 'single', { action: 'push' }),
    (r) => value(r) - before >= 3 * MiB);
  const bytes = value(received) - before;
  assert.ok(bytes < 3 * MiB + 256 * 1024, `about the layer's size (${bytes} bytes)`);
  // Two blobs (layer, config) and the manifest, each answered 201; the scrape after the push has them all.
  await prometheus.until(series('registry_gateway_requests_total', 'single', { action: 'push', method: 'PUT', code: '201' }), (r) => value(r) >= 3);
  const pushes = await prometheus.query(`sum(${series('registry_gateway_requests_total', 'single', { action: 'push' })})`);
  assert.ok(value(pushes) >= 5, 'upload starts, uploads, manifest');
});

test('the certificate gauges are the seconds left to the loaded certificates\' notAfter', async () => {
  for (const [name, file] of [['server', 'server.crt'], ['ca', 'ca.crt']] as const) {
    const notAfter = Date.parse(new X509Certificate(await readFile(join(certs, file))).validTo);
    const r = await prometheus.until(series('registry_gateway_certificate_remaining_seconds', 'single', { certificate: name }), (s) => s.length === 1);
    const left = value(r);
    const expected = (notAfter - Date.now()) / 1000;
    assert.ok(Math.abs(left - expected) < 10, `${name}: ${left} s left, notAfter says ${expected}`);
  }
});

test('the metrics listener answers /metrics in the text format and the probes; nothing else', async () => {
  const m = await plainGet(`http://127.0.0.1:${singleMetrics}/metrics`);
  assert.equal(m.status, 200);
  assert.match(m.type, /^text\/plain; version=0\.0\.4/);
  assert.match(m.body, /^# HELP registry_gateway_requests_total /m);
  assert.match(m.body, /^registry_gateway_process_cpu_seconds_total /m);
  assert.equal((await plainGet(`http://127.0.0.1:${singleMetrics}/readyz`)).body, 'ok\n');
  assert.equal((await plainGet(`http://127.0.0.1:${singleMetrics}/livez`)).status, 200);
  assert.equal((await plainGet(`http://127.0.0.1:${singleMetrics}/startupz`)).status, 200);
  assert.equal((await plainGet(`http://127.0.0.1:${singleMetrics}/v2/`)).status, 404);
  // And the HTTPS listener's probes, before auth and the Host check.
  const ready = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    // A probe by address, with a Host the certificate does not name (kubelet sends the pod IP).
    https.get(`${single.url}/readyz`, { ca, agent: false, headers: { host: 'not-a-name-in-the-certificate' }, checkServerIdentity: () => undefined }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    }).on('error', reject);
  });
  assert.deepEqual(ready, { status: 200, body: 'ok\n' });
});

test('the metrics listener answers only Hosts of its own: a DNS-rebinding page gets 421', async () => {
  const url = `http://127.0.0.1:${singleMetrics}/metrics`;
  for (const host of [`127.0.0.1:${singleMetrics}`, `localhost:${singleMetrics}`, 'LOCALHOST', `[::1]:${singleMetrics}`]) {
    assert.equal((await plainGet(url, { host })).status, 200, host);
  }
  for (const host of ['evil.example', `rebind.attacker.test:${singleMetrics}`, `127.0.0.1.nip.io:${singleMetrics}`, 'a b']) {
    const r = await plainGet(url, { host });
    assert.equal(r.status, 421, host);
    assert.match(r.body, /metrics\.hosts/);
    assert.doesNotMatch(r.body, /registry_gateway_/);
  }
  // A name an operator adds is accepted.
  const port = await freePort();
  const named = await startGateway(work, { ...base, metrics: { listen: `127.0.0.1:${port}`, hosts: ['metrics.internal'] } });
  try {
    assert.equal((await plainGet(`http://127.0.0.1:${port}/metrics`, { host: `metrics.internal:${port}` })).status, 200);
    assert.equal((await plainGet(`http://127.0.0.1:${port}/metrics`, { host: `localhost:${port}` })).status, 421, 'hosts replaces the default');
  } finally {
    await named.stop();
  }
});

/** The pids that hold the gateway's accepted connections on `port` now (ss -p). */
async function connectionOwners(port: number): Promise<Set<string>> {
  const ss = await exec('ss', ['-tnpH', 'state', 'established', `( sport = :${port} )`]);
  assert.equal(ss.code, 0, ss.stderr);
  return new Set([...ss.stdout.matchAll(/pid=(\d+)/g)].map((m) => m[1]!));
}

test('--workers 2: requests land on both workers, and the primary\'s /metrics has them all', async () => {
  const kids = new Set((await exec('pgrep', ['-P', String(multi.pid)])).stdout.trim().split('\n').filter(Boolean));
  assert.equal(kids.size, 2);
  // Six connections, kept open: the cluster hands new connections to the workers in turn.
  const agents = Array.from({ length: 6 }, () => new https.Agent({ keepAlive: true, maxSockets: 1 }));
  try {
    for (const agent of agents) assert.equal((await request(`${multi.url}/v2/_catalog`, { ...alice, agent })).status, 200);
    const owners = await connectionOwners(multi.port);
    assert.deepEqual([...owners].sort(), [...kids].sort(), 'both workers hold connections');
    for (const agent of agents) {
      for (let i = 0; i < 2; i++) assert.equal((await request(`${multi.url}/v2/_catalog`, { ...alice, agent })).status, 200);
    }
    await prometheus.until(series('registry_gateway_open_connections', 'workers'), is(6));
    await prometheus.until(series('registry_gateway_requests_total', 'workers', { method: 'GET', action: 'catalog', code: '200' }), is(18));
  } finally {
    agents.forEach((a) => a.destroy());
  }
  // One series per metric, not one per worker: the sum.
  const r = await prometheus.query(series('registry_gateway_requests_total', 'workers', { action: 'catalog' }));
  assert.equal(r.length, 1);
  // Process metrics add up over the tree: the primary and both workers.
  const rss = async (pid: string) => Number(/VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
  const total = (await Promise.all([String(multi.pid), ...kids].map(rss))).reduce((a, b) => a + b, 0);
  const reported = value(await prometheus.query(series('registry_gateway_process_resident_memory_bytes', 'workers')));
  assert.ok(reported > total * 0.7 && reported < total * 1.3, `resident memory ${reported} is the tree's ${total}`);
  const certificate = value(await prometheus.query(series('registry_gateway_certificate_remaining_seconds', 'workers', { certificate: 'server' })));
  const notAfter = Date.parse(new X509Certificate(await readFile(join(certs, 'server.crt'))).validTo);
  assert.ok(Math.abs(certificate - (notAfter - Date.now()) / 1000) < 10, 'the minimum over the workers, not their sum');
  assert.equal((await plainGet(`http://127.0.0.1:${workersMetrics}/readyz`)).body, 'ok\n', 'the primary answers for its workers');
});

test('a metrics address in use stops the start with the address and the fix', async () => {
  const r = await gatewayCli(['serve', '--listen', `127.0.0.1:${await freePort()}`, '--upstream', registry.url,
    '--certs', certs, '--htpasswd', htpasswd, '--metrics', `127.0.0.1:${singleMetrics}`]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`cannot listen for metrics on 127\\.0\\.0\\.1:${singleMetrics}: the port is in use; choose another address with --metrics`));
  const bad = await gatewayCli(['serve', '--metrics', 'nonsense']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /invalid --metrics 'nonsense': expected host:port/);
});
