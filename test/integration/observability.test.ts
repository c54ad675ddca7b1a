// What an operator sees when something fails, on a real gateway in front of a
// real docker-registry (behind a recording pass-through, to see what reaches
// it): request IDs (a client's traceparent honoured, else one made) in the
// access log and sent upstream, the user agent logged, probes not logged by
// default, log.level obeyed; TLS handshakes refused by a client that does not
// trust the CA (a node that missed a rollover) or that speaks TLS 1.1 counted
// by reason and logged at info, rate-limited; connections refused by
// limits.connectionsPerAddress counted; build_info, and the gateway's own 5xx
// told from the upstream's.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { connect } from 'node:tls';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exec, gateway as gatewayCli } from '../helpers/exec.js';
import { startGateway } from '../helpers/gateway.js';
import { request } from '../helpers/https.js';
import { freePort, startRegistry } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';
import { Socket } from 'node:net';

const work = await tempDir();
const certs = join(work, 'certs');
assert.equal((await gatewayCli(['certs', 'init', '--dir', certs, '--host', 'localhost', '--host', '127.0.0.1'])).code, 0);
const ca = await readFile(join(certs, 'ca.crt'), 'utf8');
const registry = await startRegistry(work, { storage: join(work, 'storage') });

// A pass-through that records the headers each request reached the registry with.
const seen: http.IncomingHttpHeaders[] = [];
const target = new URL(registry.url);
const recorder = http.createServer((req, res) => {
  seen.push(req.headers);
  const out = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
    res.writeHead(r.statusCode ?? 502, r.headers);
    r.pipe(res);
  });
  out.on('error', () => res.destroy());
  req.pipe(out);
});
await new Promise<void>((resolve) => recorder.listen(0, '127.0.0.1', resolve));
const recorderUrl = `http://127.0.0.1:${(recorder.address() as { port: number }).port}`;

const metricsPort = await freePort();
const gw = await startGateway(work, {
  upstream: recorderUrl,
  tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') },
  auth: { mode: 'none' },
  access: [{ account: '', name: '**', actions: ['pull'] }],
  metrics: { listen: `127.0.0.1:${metricsPort}` },
  limits: { connectionsPerAddress: 4 },
  log: { level: 'info' },
});
// A second one whose upstream is down: its 503s are the gateway's own.
const deadUpstream = await startGateway(work, {
  upstream: `http://127.0.0.1:${await freePort()}`,
  tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') },
  auth: { mode: 'none' },
  access: [{ account: '', name: '**', actions: ['pull'] }],
  log: { level: 'debug', probes: true },
});
after(async () => {
  await gw.stop();
  await deadUpstream.stop();
  await registry.stop();
  await new Promise((r) => recorder.close(r));
});

/** What `check` returns once it is not undefined (waited for, generously: scrapes and log lines arrive late). */
async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function scrape(): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(`http://127.0.0.1:${metricsPort}/metrics`, { agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}
const sample = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

test('a client\'s traceparent: its trace ID is the request ID in the log, and the upstream gets the same trace with the gateway\'s span', async () => {
  const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
  const incoming = `00-${trace}-00f067aa0ba902b7-01`;
  const from = gw.entries().length;
  seen.length = 0;
  const r = await request(`${gw.url}/v2/`, { ca, headers: { traceparent: incoming, 'user-agent': 'containerd/2.0 test' } });
  assert.equal(r.status, 200);
  const line = await gw.waitFor((e) => e.msg === 'request' && e.path === '/v2/', from);
  assert.equal(line.requestId, trace);
  assert.equal(line.userAgent, 'containerd/2.0 test');
  const sent = seen.find((h) => typeof h.traceparent === 'string');
  assert.ok(sent, 'a traceparent reached the upstream');
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(sent.traceparent));
  assert.ok(m, String(sent.traceparent));
  assert.equal(m[1], trace, 'the same trace');
  assert.notEqual(m[2], '00f067aa0ba902b7', 'the gateway\'s own span as the parent');
});

test('no traceparent, or a malformed one: a new request ID each time, sent upstream too', async () => {
  const from = gw.entries().length;
  seen.length = 0;
  await request(`${gw.url}/v2/`, { ca });
  await request(`${gw.url}/v2/`, { ca, headers: { traceparent: `00-${'0'.repeat(32)}-00f067aa0ba902b7-01` } });
  await gw.waitFor((e) => e.msg === 'request', from);
  const lines = await eventually(async () => {
    const l = gw.entries().slice(from).filter((e) => e.msg === 'request' && e.path === '/v2/');
    return l.length === 2 ? l : undefined;
  });
  const ids = lines.map((l) => String(l.requestId));
  for (const id of ids) assert.match(id, /^[0-9a-f]{32}$/);
  assert.notEqual(ids[0], ids[1]);
  assert.notEqual(ids[1], '0'.repeat(32), 'an all-zero trace ID is invalid: replaced');
  const upstreamTraces = seen.map((h) => String(h.traceparent).split('-')[1]);
  assert.deepEqual(upstreamTraces.filter((t) => ids.includes(t!)).length, 2);
});

test('probes are counted but not access-logged by default; log.probes logs them', async () => {
  const from = gw.entries().length;
  for (const p of ['/livez', '/readyz', '/healthz']) assert.equal((await request(`${gw.url}${p}`, { ca })).status, 200);
  await request(`${gw.url}/v2/`, { ca });
  await gw.waitFor((e) => e.msg === 'request' && e.path === '/v2/', from);
  assert.deepEqual(gw.entries().slice(from).filter((e) => e.msg === 'request' && /z$/.test(String(e.path))), []);
  const text = await scrape();
  assert.ok((sample(text, 'registry_gateway_requests_total{method="GET",action="health",code="200",source="gateway"}') ?? 0) >= 3);

  const before = deadUpstream.entries().length;
  await request(`${deadUpstream.url}/livez`, { ca });
  await deadUpstream.waitFor((e) => e.msg === 'request' && e.path === '/livez', before);
});

test('the gateway\'s own 503 (upstream down) is source="gateway"; the registry\'s answers are source="upstream"', async () => {
  const r = await request(`${deadUpstream.url}/v2/library/x/manifests/1`, { ca });
  assert.equal(r.status, 503);
  const line = await deadUpstream.waitFor((e) => e.msg === 'request' && e.status === 503);
  assert.match(String(line.requestId), /^[0-9a-f]{32}$/);
  assert.equal((await request(`${gw.url}/v2/library/x/manifests/1`, { ca })).status, 404);
  const text = await scrape();
  assert.ok((sample(text, 'registry_gateway_requests_total{method="GET",action="pull",code="404",source="upstream"}') ?? 0) >= 1);
  assert.match(text, /registry_gateway_request_duration_seconds_count\{action="pull",kind="manifest"\} [1-9]/);
  assert.match(text, /registry_gateway_build_info\{version="\d+\.\d+\.\d+[^"]*",revision="[^"]+",node="v\d+[^"]*"\} 1/);
});

/** A TLS client that refuses the handshake as a node without the CA does, or one that offers only TLS 1.1. */
function handshake(opts: { ca?: string; maxVersion?: 'TLSv1.1' }, port = gw.port): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({
      host: '127.0.0.1', port, servername: 'localhost', ...(opts.ca ? { ca: opts.ca } : {}),
      ...(opts.maxVersion ? { maxVersion: opts.maxVersion, minVersion: 'TLSv1' } : {}),
    }, () => {
      s.destroy();
      resolve('ok');
    });
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

// Another CA: what a node that missed a rollover trusts.
const otherCa = join(work, 'other-ca.crt');
assert.equal((await exec('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
  '-keyout', join(work, 'other-ca.key'), '-out', otherCa, '-subj', '/CN=other CA', '-days', '1'])).code, 0);

/** OpenSSL's client (as curl's, and Go's), which tells the server why it aborts: alert 48, unknown CA. */
async function untrusting(port = gw.port): Promise<string> {
  const r = await exec('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-verify_return_error',
    '-CAfile', otherCa], { input: '' });
  return r.stdout + r.stderr;
}

test('TLS handshake failures: an untrusted CA and an old protocol counted by reason, logged at info once a minute per reason', async () => {
  const from = gw.entries().length;
  for (let i = 0; i < 3; i++) assert.match(await untrusting(), /verify error|certificate verify failed/);
  assert.notEqual(await handshake({ maxVersion: 'TLSv1.1' }), 'ok');
  const text = await eventually(async () => {
    const t = await scrape();
    return (sample(t, 'registry_gateway_tls_handshake_failures_total{reason="unknown_ca"}') ?? 0) >= 3
      && (sample(t, 'registry_gateway_tls_handshake_failures_total{reason="protocol_version"}') ?? 0) >= 1 ? t : undefined;
  });
  assert.equal(sample(text, 'registry_gateway_tls_handshake_failures_total{reason="no_certificate"}'), 0, 'every reason from zero');
  const logged = gw.entries().slice(from).filter((e) => e.msg === 'TLS handshake failed');
  assert.equal(logged.filter((e) => e.reason === 'unknown_ca' && e.level === 'info').length, 1, 'three failures, one line');
  assert.equal(logged.filter((e) => e.reason === 'protocol_version' && e.level === 'info').length, 1);
  assert.equal(logged.filter((e) => e.level === 'debug').length, 0, 'log.level info: the repeats (debug) are not written');
  // log.level debug: the repeats are there, at debug.
  const start = deadUpstream.entries().length;
  for (let i = 0; i < 2; i++) await untrusting(deadUpstream.port);
  const repeat = await deadUpstream.waitFor((e) => e.msg === 'TLS handshake failed' && e.level === 'debug', start);
  assert.equal(repeat.reason, 'unknown_ca');
});

test('connections over limits.connectionsPerAddress are refused and counted', async () => {
  const sockets = await Promise.all(Array.from({ length: 6 }, () => new Promise<Socket>((resolve) => {
    const s = new Socket();
    s.connect(gw.port, '127.0.0.1', () => resolve(s));
    s.on('error', () => resolve(s));
  })));
  const text = await eventually(async () => {
    const t = await scrape();
    return (sample(t, 'registry_gateway_connections_refused_total{limit="connectionsPerAddress"}') ?? 0) >= 2 ? t : undefined;
  });
  assert.equal(sample(text, 'registry_gateway_connections_refused_total{limit="connections"}'), 0);
  for (const s of sockets) s.destroy();
});
