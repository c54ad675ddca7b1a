// Readiness as a list of checks, the one-second cache in front of the
// upstream check, the probes' plain-text answers, and the primary's
// combination of its workers' answers.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { probeBody, answerProbe, excludedChecks, isProbePath } from '../../src/metrics/probes.js';
import {
  cached, certificateCheck, combineProbes, createHealth, readiness, upstreamCheck, DRAINING, STARTING, UPSTREAM_UNREACHABLE,
} from '../../src/server/health.js';
import { upstreamReachable } from '../../src/proxy/handler.js';
import { createUpstream } from '../../src/proxy/upstream.js';

const lines: Record<string, unknown>[] = [];
const log = pino({ level: 'info' }, new Writable({
  write: (c, _e, cb) => {
    lines.push(JSON.parse(String(c)));
    cb();
  },
}));

test('readiness: every check runs; draining, starting and each failure are reasons, in order', async () => {
  const ok = { name: 'a', check: () => undefined };
  const down = { name: 'b', check: async () => 'upstream registry unreachable' };
  const throws = { name: 'redis', check: () => { throw new Error('boom at 10.0.0.7:6379'); } };
  assert.deepEqual(await readiness([ok], false, true), { ok: true, reasons: [] });
  assert.deepEqual(await readiness([ok], true, true), { ok: false, reasons: [DRAINING] });
  assert.deepEqual(await readiness([ok], false, false), { ok: false, reasons: [STARTING] });
  const r = await readiness([ok, down, throws], true, true);
  assert.deepEqual(r, { ok: false, reasons: [DRAINING, 'upstream registry unreachable', 'redis check failed'] });
  assert.doesNotMatch(probeBody(r), /10\.0\.0\.7/, 'a thrown error\'s text (an address) never reaches the body');
});

test('health: starts not started, drains on demand, logs changes of readiness only', async () => {
  lines.length = 0;
  let up = true;
  const h = createHealth(log, [{ name: 'x', check: () => (up ? undefined : 'x down') }]);
  assert.equal(h.live().ok, true, 'alive even before starting');
  assert.deepEqual(h.startup(), { ok: false, reasons: [STARTING] });
  assert.equal((await h.ready()).ok, false);
  h.markStarted();
  assert.deepEqual(h.startup(), { ok: true, reasons: [] });
  assert.equal((await h.ready()).ok, true);
  assert.equal((await h.ready()).ok, true);
  up = false;
  assert.deepEqual(await h.ready(), { ok: false, reasons: ['x down'] });
  assert.deepEqual(await h.ready(), { ok: false, reasons: ['x down'] });
  up = true;
  h.startDrain();
  assert.equal(h.draining, true);
  assert.deepEqual(await h.ready(), { ok: false, reasons: [DRAINING] });
  assert.equal(h.live().ok, true, 'draining is not dead: liveness must not restart a process that is finishing uploads');
  assert.deepEqual(lines.map((l) => l.msg), ['not ready', 'ready', 'not ready'], 'one line per change (the later not ready is the drain)');
  // A check added after creation (server.ts builds the list; Redis adds to it) counts.
  const h2 = createHealth(log);
  h2.markStarted();
  h2.checks.push({ name: 'redis', check: () => 'redis unreachable' });
  assert.deepEqual(await h2.ready(), { ok: false, reasons: ['redis unreachable'] });
});

test('cached: one run per ttl, shared by concurrent callers; a throw is the failure reason', async () => {
  let runs = 0;
  let t = 1000;
  let release: (() => void) | undefined;
  const check = cached(() => new Promise<string | undefined>((resolve) => {
    runs++;
    release = () => resolve(runs % 2 === 1 ? undefined : 'down');
  }), 1000, 'failed', () => t);
  const tick = () => new Promise((r) => setImmediate(r));
  const a = check();
  const b = check();
  await tick();
  release!();
  assert.deepEqual(await Promise.all([a, b]), [undefined, undefined]);
  assert.equal(runs, 1, 'concurrent probes share one check');
  t += 999;
  assert.equal(await check(), undefined);
  assert.equal(runs, 1, 'within the ttl: no new check');
  t += 1;
  const c = check();
  await tick();
  release!();
  assert.equal(await c, 'down');
  assert.equal(runs, 2);
  const failing = cached(() => {
    throw new Error('x');
  }, 1000, 'it failed');
  assert.equal(await failing(), 'it failed');
});

test('certificate check: loaded, and within its validity', () => {
  const now = Date.parse('2026-06-01T00:00:00Z');
  const cert = (validFrom: string, validTo: string) => () => ({ validFrom, validTo });
  assert.equal(certificateCheck(cert('Jan 1 00:00:00 2026 GMT', 'Jan 1 00:00:00 2027 GMT'), () => now).check(), undefined);
  assert.equal(certificateCheck(cert('Jan 1 00:00:00 2025 GMT', 'Jan 1 00:00:00 2026 GMT'), () => now).check(), 'server certificate expired');
  assert.equal(certificateCheck(cert('Jan 1 00:00:00 2027 GMT', 'Jan 1 00:00:00 2028 GMT'), () => now).check(), 'server certificate not yet valid');
  assert.equal(certificateCheck(() => undefined).check(), 'server certificate not loaded');
});

// A real upstream that counts what it is asked, and a port where nothing listens.
let asked = 0;
const upstreamServer = http.createServer((req, res) => {
  asked++;
  res.writeHead(401).end();
});
await new Promise<void>((r) => upstreamServer.listen(0, '127.0.0.1', r));
const upstreamUrl = `http://127.0.0.1:${(upstreamServer.address() as { port: number }).port}`;
const closedServer = http.createServer();
await new Promise<void>((r) => closedServer.listen(0, '127.0.0.1', r));
const closedUrl = `http://127.0.0.1:${(closedServer.address() as { port: number }).port}`;
await new Promise((r) => closedServer.close(r));
after(() => upstreamServer.close());

test('upstream check: /v2/ answering below 500 is reachable; probes within a second cost one request', async () => {
  const upstream = createUpstream(upstreamUrl, 10_000);
  const gone = createUpstream(closedUrl, 10_000);
  try {
    const check = upstreamCheck((ms) => upstreamReachable(upstream, log, ms), 300);
    asked = 0;
    const results = await Promise.all(Array.from({ length: 20 }, () => check.check()));
    assert.deepEqual(new Set(results), new Set([undefined]), 'a 401 from /v2/ is an upstream that answers');
    assert.equal(asked, 1, '20 probes at once: one request upstream');
    await check.check();
    assert.equal(asked, 1);
    await new Promise((r) => setTimeout(r, 350));
    await check.check();
    assert.equal(asked, 2, 'after the ttl it asks again');
    lines.length = 0;
    const down = upstreamCheck((ms) => upstreamReachable(gone, log, ms));
    assert.equal(await down.check(), UPSTREAM_UNREACHABLE);
    const warning = lines.find((l) => l.msg === 'health check: upstream unreachable');
    assert.equal(warning?.upstream, closedUrl, 'the address is in the log');
    assert.equal(warning?.error, 'ECONNREFUSED');
  } finally {
    upstream.close();
    gone.close();
  }
});

test('readyz?exclude=: the named checks are skipped (draining never is); an unknown name is refused with the known ones', async () => {
  const redis = { name: 'redis', check: () => 'redis unreachable' };
  const upstream = { name: 'upstream', check: () => undefined };
  assert.deepEqual(await readiness([upstream, redis], false, true), { ok: false, reasons: ['redis unreachable'] });
  assert.deepEqual(await readiness([upstream, redis], false, true, ['redis']), { ok: true, reasons: [] });
  assert.deepEqual(await readiness([upstream, redis], true, true, ['redis']), { ok: false, reasons: [DRAINING] });
  assert.deepEqual(excludedChecks('/readyz'), []);
  assert.deepEqual(excludedChecks('/readyz?exclude=redis'), ['redis']);
  assert.deepEqual(excludedChecks('/readyz?exclude=redis,upstream&exclude=certificate'), ['redis', 'upstream', 'certificate']);
  const bad = excludedChecks('/readyz?exclude=rediss');
  assert.ok(!Array.isArray(bad) && /unknown readiness check 'rediss'.*upstream, certificate, redis/.test(bad.error));
  const h = createHealth(log, [upstream, redis]);
  h.markStarted();
  const server = http.createServer((req, res) => void answerProbe(req, res, '/readyz', h));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  try {
    const status = async (path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).status;
    assert.equal(await status('/readyz'), 503);
    assert.equal(await status('/readyz?exclude=redis'), 200);
    assert.equal(await status('/readyz?exclude=nope'), 400);
  } finally {
    server.close();
  }
});

test('probe answers: plain text, 200 or 503 with the reasons, nothing for HEAD; only the three paths', async () => {
  assert.equal(probeBody({ ok: true, reasons: [] }), 'ok\n');
  assert.equal(probeBody({ ok: false, reasons: ['draining', 'upstream registry unreachable'] }), 'not ready\n- draining\n- upstream registry unreachable\n');
  assert.ok(isProbePath('/readyz') && isProbePath('/livez') && isProbePath('/startupz'));
  assert.ok(!isProbePath('/healthz') && !isProbePath('/readyz/') && !isProbePath('/toString'));
  const h = createHealth(log);
  const server = http.createServer((req, res) => void answerProbe(req, res, req.url as '/readyz', h));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const get = (path: string, method = 'GET') => new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
    http.request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
    }).on('error', reject).end();
  });
  try {
    assert.deepEqual(await get('/startupz'), { status: 503, type: 'text/plain; charset=utf-8', body: 'not ready\n- starting\n' });
    h.markStarted();
    assert.deepEqual(await get('/readyz'), { status: 200, type: 'text/plain; charset=utf-8', body: 'ok\n' });
    h.startDrain();
    assert.deepEqual(await get('/readyz'), { status: 503, type: 'text/plain; charset=utf-8', body: 'not ready\n- draining\n' });
    assert.deepEqual(await get('/readyz', 'HEAD'), { status: 503, type: 'text/plain; charset=utf-8', body: '' });
    assert.equal((await get('/livez')).status, 200);
  } finally {
    server.close();
  }
});

test('the primary under --workers: ready when every worker answers ready', () => {
  const ok = { ok: true, reasons: [] };
  assert.deepEqual(combineProbes([ok, ok], 2), { ok: true, reasons: [] });
  assert.deepEqual(combineProbes([ok], 2), { ok: false, reasons: ['1 of 2 workers not answering'] });
  assert.deepEqual(combineProbes([ok, { ok: false, reasons: [DRAINING] }, { ok: false, reasons: [DRAINING, 'x'] }], 3),
    { ok: false, reasons: [DRAINING, 'x'] }, 'reasons once each');
  assert.deepEqual(combineProbes([ok, ok], 2, [DRAINING]), { ok: false, reasons: [DRAINING] }, 'the primary\'s own drain');
});
