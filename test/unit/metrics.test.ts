// The metrics: what one recorded request, failure or source turns into, and,
// through the real handler in-process (both auth modes, an in-process fake
// upstream), that each kind of request is counted with the right method,
// action and status, and each refusal with its reason.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { policyFor } from '../../src/auth/policy.js';
import { createThrottle } from '../../src/auth/throttle.js';
import { setUser } from '../../src/auth/users.js';
import { initCerts } from '../../src/certs/init.js';
import { validateConfig } from '../../src/config/config.js';
import {
  createMetrics, metrics, methodLabel, upstreamErrorKind, tlsFailureReason, PREFIX, DURATION_BUCKETS,
} from '../../src/metrics/metrics.js';
import { clientAddress, createHandler } from '../../src/proxy/handler.js';
import { createShares } from '../../src/proxy/shares.js';
import { createUpstream } from '../../src/proxy/upstream.js';
import { AUTH_MODES } from '../../src/server/authModes.js';
import { createHealth, upstreamCheck } from '../../src/server/health.js';
import { tempDir } from '../helpers/tmp.js';

type Values = { value: number; labels: Record<string, string | number>; metricName?: string }[];

async function values(registry: Registry, name: string): Promise<Values> {
  const m = registry.getSingleMetric(`${PREFIX}${name}`);
  assert.ok(m, `${PREFIX}${name} is registered`);
  // A copy: prom-client hands out its live value objects.
  return structuredClone((await m.get()).values) as Values;
}

function valueOf(list: Values, labels: Record<string, string>, metricName?: string): number {
  const hit = list.find((v) => (metricName === undefined || v.metricName === metricName)
    && Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)
    && Object.keys(v.labels).filter((k) => k !== 'le').length === Object.keys(labels).length);
  return hit?.value ?? 0;
}

test('one request: counted by method, action and code, timed in its bucket, its bytes added', async () => {
  const m = createMetrics(new Registry());
  m.request({ method: 'PUT', action: 'push', kind: 'blob', source: 'upstream', status: 201, seconds: 42, received: 1000, sent: 200 });
  m.request({ method: 'PUT', action: 'push', kind: 'blob', source: 'upstream', status: 201, seconds: 0.003, received: 24, sent: 100 });
  m.request({ method: 'BREW', action: 'other', status: 404, seconds: 0.001, received: 0, sent: 10 });
  m.request({ method: 'GET', action: 'pull', kind: 'manifest', source: 'gateway', status: 503, seconds: 0.002, received: 0, sent: 10 });
  const requests = await values(m.registry, 'requests_total');
  assert.equal(valueOf(requests, { method: 'PUT', action: 'push', code: '201', source: 'upstream' }), 2);
  assert.equal(valueOf(requests, { method: 'other', action: 'other', code: '404', source: 'gateway' }), 1,
    'an unknown method is `other`, not its own series; no source given is the gateway\'s');
  assert.equal(valueOf(requests, { method: 'GET', action: 'pull', code: '503', source: 'gateway' }), 1, 'the gateway\'s own 5xx');
  const duration = await values(m.registry, 'request_duration_seconds');
  const bucket = (le: number) => duration.find((v) => v.labels.le === le && v.labels.action === 'push')!.value;
  assert.equal(bucket(0.005), 1);
  assert.equal(bucket(30), 1);
  assert.equal(bucket(60), 2, 'a 42 s upload lands between 30 and 60 s');
  assert.equal(valueOf(duration, { action: 'push', kind: 'blob' }, `${PREFIX}request_duration_seconds_count`), 2);
  assert.equal(valueOf(duration, { action: 'pull', kind: 'manifest' }, `${PREFIX}request_duration_seconds_count`), 1,
    'manifests apart from blob transfers, for a latency objective');
  assert.equal(valueOf(await values(m.registry, 'received_bytes_total'), { action: 'push' }), 1024);
  assert.equal(valueOf(await values(m.registry, 'sent_bytes_total'), { action: 'push' }), 300);
  assert.ok(DURATION_BUCKETS.at(0)! <= 0.005 && DURATION_BUCKETS.at(-1)! >= 3600, 'from API calls to hour-long transfers');
});

test('every name has the prefix and its unit; labels are closed sets, never names', async () => {
  const m = createMetrics(new Registry());
  m.collectDefaults();
  const all = await m.registry.getMetricsAsJSON();
  for (const metric of all) {
    assert.ok(metric.name.startsWith(PREFIX), metric.name);
    if (String(metric.type) === 'counter') assert.match(metric.name, /_total$/, metric.name);
  }
  const ours = all.filter((x) => !/process_|nodejs_/.test(x.name)).map((x) => x.name).sort();
  assert.deepEqual(ours, [
    'auth_failures_total', 'build_info', 'certificate_remaining_seconds', 'connections_refused_total', 'open_connections',
    'received_bytes_total', 'redis_fallback', 'reload_failures_total', 'request_duration_seconds', 'requests_in_flight', 'requests_total',
    'sent_bytes_total', 'throttled_requests_total', 'tls_handshake_failures_total', 'tokens_issued_total', 'upstream_errors_total',
  ].map((n) => PREFIX + n));
  assert.ok(all.some((x) => x.name === `${PREFIX}process_cpu_seconds_total`), 'default metrics under the prefix');
  // Reasons, limits and kinds start at zero: alerts see the series before the first event.
  assert.equal(valueOf(await values(m.registry, 'auth_failures_total'), { reason: 'bad_password' }), 0);
  assert.equal((await values(m.registry, 'auth_failures_total')).length, 8);
});

test('TLS handshake failures map to a few reasons, from OpenSSL\'s codes as Node names them', () => {
  const reason = (code: string, message = '') => tlsFailureReason(Object.assign(new Error(message), { code }));
  assert.equal(reason('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA'), 'unknown_ca', 'the client does not trust the CA');
  assert.equal(reason('ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE'), 'bad_certificate');
  assert.equal(reason('ERR_SSL_UNSUPPORTED_PROTOCOL'), 'protocol_version', 'TLS 1.1 and older');
  assert.equal(reason('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION'), 'protocol_version');
  assert.equal(reason('ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE'), 'no_certificate', 'tls.clientCA and no client certificate');
  assert.equal(reason('ERR_TLS_HANDSHAKE_TIMEOUT'), 'timeout');
  assert.equal(reason('ECONNRESET'), 'other');
  assert.equal(reason('ERR_SSL_HTTP_REQUEST'), 'other');
});

test('methods and upstream errors map to a few labels', () => {
  assert.equal(methodLabel('GET'), 'GET');
  assert.equal(methodLabel('PROPFIND'), 'other');
  assert.equal(methodLabel(undefined), 'other');
  const kind = (code: string | undefined, message = 'x') => upstreamErrorKind(Object.assign(new Error(message), code ? { code } : {}));
  assert.equal(kind('ECONNREFUSED'), 'connect_refused');
  assert.equal(kind('ECONNRESET'), 'reset');
  assert.equal(kind('EPIPE'), 'reset');
  assert.equal(kind('ETIMEDOUT'), 'timeout');
  assert.equal(kind(undefined, 'no answer within 800 ms'), 'timeout');
  assert.equal(kind('ENOTFOUND'), 'dns');
  assert.equal(kind('EHOSTUNREACH'), 'unreachable');
  assert.equal(kind('DEPTH_ZERO_SELF_SIGNED_CERT'), 'tls');
  assert.equal(kind('ERR_TLS_CERT_ALTNAME_INVALID'), 'tls');
  assert.equal(kind(undefined, 'upstream answer too large'), 'other');
  assert.equal(upstreamErrorKind('not an error'), 'other');
});

test('scrape-time gauges: connections summed over sources, certificates by the earliest end, negative once expired', async () => {
  const m = createMetrics(new Registry());
  const now = Date.now();
  const remove = m.addSource({ connections: () => 3, certificates: () => ({ server: new Date(now + 86_400_000), ca: new Date(now + 10 * 86_400_000) }) });
  m.addSource({ connections: async () => 2, certificates: () => ({ server: new Date(now - 60_000) }) });
  assert.equal(valueOf(await values(m.registry, 'open_connections'), {}), 5);
  let certs = await values(m.registry, 'certificate_remaining_seconds');
  assert.ok(Math.abs(valueOf(certs, { certificate: 'server' }) + 60) < 5, 'the expired one wins, negative');
  assert.ok(Math.abs(valueOf(certs, { certificate: 'ca' }) - 10 * 86_400) < 5);
  remove();
  certs = await values(m.registry, 'certificate_remaining_seconds');
  assert.equal(certs.find((v) => v.labels.certificate === 'ca'), undefined, 'no CA source left: no CA series');
  assert.equal(valueOf(await values(m.registry, 'open_connections'), {}), 2);
  // In flight: a start and its end, once, however often the end is called.
  const end = m.started();
  assert.equal(valueOf(await values(m.registry, 'requests_in_flight'), {}), 1);
  end();
  end();
  assert.equal(valueOf(await values(m.registry, 'requests_in_flight'), {}), 0);
});

// --- through the real request path ---
const work = await tempDir();
const htpasswd = join(work, 'htpasswd');
await setUser(htpasswd, 'alice', 'alice-pw', 4, 'add');
await setUser(htpasswd, 'bob', 'bob-pw', 4, 'add');
const certs = join(work, 'certs');
await initCerts({ dir: certs, hosts: ['localhost', '127.0.0.1'], caDays: 30, days: 10, nameConstraints: true, force: false, newCa: false },
  { now: new Date(), creator: 'test', warn: () => undefined });
const upstreamServer = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(req.method === 'POST' ? 202 : 200, { 'Content-Type': 'application/json', 'Docker-Distribution-API-Version': 'registry/2.0' });
    res.end(req.url!.startsWith('/v2/_catalog') ? JSON.stringify({ repositories: ['alice/x'] }) : '{}');
  });
});
await new Promise<void>((r) => upstreamServer.listen(0, '127.0.0.1', r));
const upstreamUrl = `http://127.0.0.1:${(upstreamServer.address() as { port: number }).port}`;
const quiet = pino({ level: 'silent' }, new Writable({ write: (_c, _e, cb) => cb() }));

async function serve(mode: 'htpasswd' | 'token', upstreamAt = upstreamUrl) {
  const config = validateConfig({
    upstream: upstreamAt, access: [{ account: 'alice', name: '**', actions: ['*'] }, { account: 'bob', name: '**', actions: ['pull'] }],
    auth: { mode, htpasswd, ...(mode === 'token' ? { token: { service: 'reg.test', signingKey: join(certs, 'token.key') } } : {}) },
  }, {}, 'test');
  const policy = policyFor(config.access, config.auth.mode);
  const auth = await AUTH_MODES[mode]({
    config, policy, log: quiet, publicOrigin: () => 'https://reg.test', clientAddress,
    throttle: (_name, limit, windowMs) => createThrottle(limit, windowMs),
  });
  const upstream = createUpstream(upstreamAt, 10_000);
  const health = createHealth(quiet, [upstreamCheck(async () => true)]);
  health.markStarted();
  const handle = createHandler({
    controller: auth.controller, policy, upstream, log: quiet, publicOrigin: () => 'https://reg.test', hostAllowed: () => true,
    shares: createShares({ perAddress: 64, perAccount: 64, anonymous: 64 }), bodyStallMs: 5000, endpoints: auth.endpoints, probes: health,
  });
  const server = http.createServer((req, res) => void handle(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      upstream.close();
      await auth.close();
    },
  };
}

function call(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string; from?: string } = {}) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers ?? {}, agent: false, ...(opts.from ? { localAddress: opts.from } : {}) }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}
const basic = (creds: string) => ({ authorization: `Basic ${Buffer.from(creds).toString('base64')}` });

const basicGw = await serve('htpasswd');
const tokenGw = await serve('token');
after(async () => {
  await basicGw.close();
  await tokenGw.close();
  upstreamServer.close();
});

/** The change in every series of `name` across `during`. */
async function delta(name: string, during: () => Promise<void>): Promise<(labels: Record<string, string>) => number> {
  const before = await values(metrics.registry, name);
  await during();
  // The access log records when the response closes, just after the client has its answer.
  await new Promise((r) => setTimeout(r, 50));
  const after = await values(metrics.registry, name);
  return (labels) => valueOf(after, labels) - valueOf(before, labels);
}

test('through the handler: pull, push, delete, catalog, probes and refusals each with their labels', async () => {
  const d = await delta('requests_total', async () => {
    assert.equal((await call(`${basicGw.url}/v2/alice/x/manifests/1`, { headers: basic('alice:alice-pw') })).status, 200);
    assert.equal((await call(`${basicGw.url}/v2/alice/x/manifests/1`, { method: 'HEAD', headers: basic('alice:alice-pw') })).status, 200);
    assert.equal((await call(`${basicGw.url}/v2/alice/x/blobs/uploads/`, { method: 'POST', headers: basic('alice:alice-pw') })).status, 202);
    assert.equal((await call(`${basicGw.url}/v2/alice/x/manifests/sha256:${'a'.repeat(64)}`, { method: 'DELETE', headers: basic('alice:alice-pw') })).status, 200);
    assert.equal((await call(`${basicGw.url}/v2/_catalog`, { headers: basic('alice:alice-pw') })).status, 200);
    assert.equal((await call(`${basicGw.url}/readyz`)).status, 200);
    assert.equal((await call(`${basicGw.url}/livez`)).status, 200);
    assert.equal((await call(`${basicGw.url}/v2/`)).status, 401);
    assert.equal((await call(`${basicGw.url}/v2/alice/x/manifests/1`, { headers: basic('alice:wrong') })).status, 401);
    assert.equal((await call(`${basicGw.url}/v2/alice/x/manifests/1`, { method: 'PUT', headers: basic('bob:bob-pw') })).status, 403);
    assert.equal((await call(`${basicGw.url}/nothing-here`)).status, 404);
  });
  const up = 'upstream';
  const gw = 'gateway';
  assert.equal(d({ method: 'GET', action: 'pull', code: '200', source: up }), 1, 'the upstream\'s answer, relayed');
  assert.equal(d({ method: 'HEAD', action: 'pull', code: '200', source: up }), 1);
  assert.equal(d({ method: 'POST', action: 'push', code: '202', source: up }), 1);
  assert.equal(d({ method: 'DELETE', action: 'delete', code: '200', source: up }), 1);
  assert.equal(d({ method: 'GET', action: 'catalog', code: '200', source: gw }), 1, 'the catalog is paginated by the gateway');
  assert.equal(d({ method: 'GET', action: 'health', code: '200', source: gw }), 2);
  assert.equal(d({ method: 'GET', action: 'other', code: '401', source: gw }), 1, '/v2/ is neither pull nor push');
  assert.equal(d({ method: 'GET', action: 'pull', code: '401', source: gw }), 1, 'a refused pull is still a pull');
  assert.equal(d({ method: 'PUT', action: 'push', code: '403', source: gw }), 1);
  assert.equal(d({ method: 'GET', action: 'other', code: '404', source: gw }), 1);
});

test('auth failures by reason, throttled logins, issued tokens', async () => {
  const failures = await delta('auth_failures_total', async () => {
    await call(`${basicGw.url}/v2/`);
    await call(`${basicGw.url}/v2/`, { headers: { authorization: 'Basic !!!' } });
    await call(`${basicGw.url}/v2/`, { headers: basic('nobody:x') });
    await call(`${basicGw.url}/v2/alice/x/manifests/1`, { method: 'PUT', headers: basic('bob:bob-pw') });
    await call(`${tokenGw.url}/v2/alice/x/manifests/1`, { headers: { authorization: 'Bearer not.a.token' } });
  });
  assert.equal(failures({ reason: 'missing' }), 1);
  assert.equal(failures({ reason: 'malformed' }), 1);
  assert.equal(failures({ reason: 'bad_password' }), 1);
  assert.equal(failures({ reason: 'denied' }), 1);
  assert.equal(failures({ reason: 'token_invalid' }), 1);

  const throttled = await delta('throttled_requests_total', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await call(`${basicGw.url}/v2/`, { headers: basic(`guess${i}:x`), from: '127.0.0.77' })).status);
    assert.deepEqual(statuses.slice(-2), [429, 429]);
  });
  assert.equal(throttled({ limit: 'logins' }), 2);

  let bobToken = '';
  const tokens = await delta('tokens_issued_total', async () => {
    const r = await call(`${tokenGw.url}/token?service=reg.test&scope=repository:alice/x:pull&offline_token=true`, { headers: basic('bob:bob-pw') });
    assert.equal(r.status, 200, r.body);
    bobToken = JSON.parse(r.body).token;
  });
  assert.equal(tokens({ type: 'access' }), 1);
  assert.equal(tokens({ type: 'refresh' }), 1);
  const jwks = await delta('requests_total', async () => {
    assert.equal((await call(`${tokenGw.url}/token/jwks.json`)).status, 200);
  });
  assert.equal(jwks({ method: 'GET', action: 'token', code: '200', source: 'gateway' }), 1, 'the token server\'s paths are `token`');
  const scope = await delta('auth_failures_total', async () => {
    assert.equal((await call(`${tokenGw.url}/v2/alice/x/manifests/1`, { method: 'PUT', headers: { authorization: `Bearer ${bobToken}` } })).status, 401);
  });
  assert.equal(scope({ reason: 'insufficient_scope' }), 1);
});

test('an unreachable upstream is counted by kind', async () => {
  const closed = http.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as { port: number }).port;
  await new Promise((r) => closed.close(r));
  const gone = await serve('htpasswd', `http://127.0.0.1:${port}`);
  try {
    const errors = await delta('upstream_errors_total', async () => {
      assert.equal((await call(`${gone.url}/v2/alice/x/manifests/1`, { headers: basic('alice:alice-pw') })).status, 503);
      assert.equal((await call(`${gone.url}/v2/_catalog`, { headers: basic('alice:alice-pw') })).status, 503);
    });
    assert.equal(errors({ kind: 'connect_refused' }), 2, 'the proxied request and the gateway\'s own (catalog)');
  } finally {
    await gone.close();
  }
});

test('metrics Hosts: the listen address, loopback, $POD_IP and metrics.hosts; every address of the machine on a wildcard', async () => {
  const { metricsHosts } = await import('../../src/server/metricsServer.js');
  const named = metricsHosts('10.1.2.3', ['localhost', 'Metrics.Internal'], { POD_IP: '10.9.9.9' });
  for (const h of ['10.1.2.3', 'localhost', 'metrics.internal', '10.9.9.9', '127.0.0.1', '::1']) assert.ok(named.has(h), h);
  assert.ok(!named.has('evil.example'));
  const wildcard = metricsHosts('::', [], {});
  assert.ok(wildcard.has('127.0.0.1') && !wildcard.has('localhost'));
});
