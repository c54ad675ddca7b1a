// SIGTERM drains, against a real docker-registry: with a slow blob upload in
// flight (a raw HTTPS PUT that trickles its body), /readyz turns 503 at once
// while new clients are still served for shutdown.delay; after it new TCP
// connections are refused; the upload still completes (201) and the blob is
// in the registry; the process exits 0 well within shutdown.grace. A request
// that outlives the grace period is cut and the process still exits 0 on
// time. The same drain with --workers 2. A second SIGINT during the grace
// period stops at once: the upload is cut, the log counts it, exit 130.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { connect } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gateway as gatewayCli } from '../helpers/exec.js';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { request } from '../helpers/https.js';
import { freePort, startRegistry } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';

const work = await tempDir();
const certs = join(work, 'certs');
const htpasswd = join(work, 'htpasswd');
assert.equal((await gatewayCli(['certs', 'init', '--dir', certs, '--host', 'localhost', '--host', '127.0.0.1'])).code, 0);
assert.equal((await gatewayCli(['users', 'add', 'alice', '--password-stdin', '--file', htpasswd, '--cost', '4'], { input: 'alice-pw' })).code, 0);
const ca = await readFile(join(certs, 'ca.crt'), 'utf8');
const registry = await startRegistry(work, { storage: join(work, 'storage') });
after(() => registry.stop());
const base = {
  upstream: registry.url,
  tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') },
  auth: { mode: 'htpasswd', htpasswd },
  access: [{ account: 'alice', name: '**', actions: ['*'] }],
};
const authorization = `Basic ${Buffer.from('alice:alice-pw').toString('base64')}`;

const CHUNK = 32 * 1024;

/**
 * Starts a blob upload (POST) and PUTs its body in `chunks` pieces, one every
 * `everyMs`. Resolves with the PUT's answer, or the error that cut it.
 */
async function slowUpload(gw: GatewayProcess, name: string, chunks: number, everyMs: number) {
  const blob = randomBytes(chunks * CHUNK);
  const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
  const start = await request(`${gw.url}/v2/${name}/blobs/uploads/`, { ca, method: 'POST', headers: { authorization } });
  assert.equal(start.status, 202, start.body.toString());
  const location = new URL(String(start.headers.location), gw.url);
  location.searchParams.set('digest', digest);
  let sent = 0;
  let firstSent!: () => void;
  const started = new Promise<void>((r) => (firstSent = r));
  const done = new Promise<{ status: number; location?: string } | { error: string }>((resolve) => {
    const req = https.request(location, {
      method: 'PUT', ca, agent: false,
      headers: { authorization, 'content-type': 'application/octet-stream', 'content-length': blob.length },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, location: res.headers.location }));
      res.on('error', (err) => resolve({ error: err.message }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    const timer = setInterval(() => {
      if (req.destroyed) return clearInterval(timer);
      req.write(blob.subarray(sent * CHUNK, (sent + 1) * CHUNK));
      if (++sent === 1) firstSent();
      if (sent === chunks) {
        clearInterval(timer);
        req.end();
      }
    }, everyMs);
  });
  return { digest, size: blob.length, started, done, sent: () => sent };
}

/** A new TCP connection: true when it is refused. */
const refused = (port: number) => new Promise<boolean>((resolve) => {
  const s = connect(port, '127.0.0.1', () => {
    s.destroy();
    resolve(false);
  });
  s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
});

const readyz = async (gw: GatewayProcess) => {
  const r = await request(`${gw.url}/readyz`, { ca });
  return { status: r.status, body: r.body.toString() };
};

function plainGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    }).on('error', reject);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The blob, read from the registry itself (not through the gateway). */
async function inRegistry(name: string, digest: string): Promise<number> {
  const r = await fetch(`${registry.url}/v2/${name}/blobs/${digest}`);
  return r.status === 200 ? (await r.arrayBuffer()).byteLength : -r.status;
}

/** SIGTERM during a slow upload; what an operator and a client see, in order. */
async function drainDuringUpload(gw: GatewayProcess, name: string, metricsPort?: number) {
  assert.deepEqual(await readyz(gw), { status: 200, body: 'ok\n' });
  // 40 chunks, 100 ms apart: a 1.25 MiB upload that takes about 4 s, past the 2 s delay.
  const upload = await slowUpload(gw, name, 40, 100);
  await upload.started;
  const t0 = Date.now();
  gw.signal('SIGTERM');
  await sleep(300);
  // Readiness fails at once, on a new connection that is still accepted.
  const during = await readyz(gw);
  assert.equal(during.status, 503);
  assert.match(during.body, /^not ready\n- draining\n/);
  assert.equal(await refused(gw.port), false, 'still accepting during shutdown.delay');
  if (metricsPort) assert.equal((await plainGet(`http://127.0.0.1:${metricsPort}/readyz`)).status, 503, 'the primary says so too');
  await sleep(2000 - (Date.now() - t0) + 400);
  assert.equal(await refused(gw.port), true, 'after shutdown.delay new connections are refused');
  assert.ok(upload.sent() < 40, 'the upload is still in flight when the listener closes');
  if (metricsPort) {
    assert.equal((await plainGet(`http://127.0.0.1:${metricsPort}/readyz`)).status, 503, 'the metrics listener closes last');
  }
  const result = await upload.done;
  assert.equal('status' in result && result.status, 201, `the upload in flight completed: ${JSON.stringify(result)}`);
  assert.equal(await inRegistry(name, upload.digest), upload.size, 'the blob is in the registry, whole');
  // Waited for, not signalled again: a second SIGTERM as Node tears down would kill it.
  const code = await Promise.race([gw.exited(), sleep(15_000).then(() => 'still running')]);
  const took = Date.now() - t0;
  assert.equal(code, 0, gw.logs().split('\n').filter((l) => !l.includes('"msg":"request"')).slice(-30).join('\n'));
  assert.ok(took < 8000, `exited soon after the upload, well within shutdown.grace (30 s): ${took} ms`);
  const draining = gw.entries().filter((e) => e.msg === 'draining');
  assert.ok(draining.length >= 1);
  assert.ok(draining.some((e) => Number(e.requests) >= 1), `the log counts the upload in flight: ${JSON.stringify(draining)}`);
  assert.ok(gw.entries().some((e) => e.msg === 'stopped'));
  const put = gw.entries().find((e) => e.msg === 'request' && e.method === 'PUT');
  assert.equal(put?.status, 201);
  assert.equal(put?.completed, true);
}

test('SIGTERM: not ready at once, refusing after the delay, the upload in flight completes, exit 0', async () => {
  const gw = await startGateway(work, { ...base, shutdown: { delay: 2, grace: 30 } });
  try {
    await drainDuringUpload(gw, 'alice/drain');
  } finally {
    await gw.stop();
  }
});

test('SIGTERM: a request that outlives shutdown.grace is cut, and the process still exits 0 on time', async () => {
  const gw = await startGateway(work, { ...base, shutdown: { delay: 0, grace: 2 } });
  try {
    // 200 chunks, 100 ms apart: 20 s, far past the grace period.
    const upload = await slowUpload(gw, 'alice/cut', 200, 100);
    await upload.started;
    const t0 = Date.now();
    gw.signal('SIGTERM');
    const result = await upload.done;
    const cutAfter = Date.now() - t0;
    assert.ok('error' in result, `the client sees its request cut: ${JSON.stringify(result)}`);
    assert.ok(cutAfter >= 1900 && cutAfter < 5000, `cut at the end of the grace period: ${cutAfter} ms`);
    assert.equal(await Promise.race([gw.exited(), sleep(15_000).then(() => 'still running')]), 0);
    const took = Date.now() - t0;
    assert.ok(took < 6000, `exited promptly after the grace period: ${took} ms`);
    assert.ok(gw.entries().some((e) => e.msg === 'shutdown.grace is over: closing the connections still open' && e.requests === 1));
    assert.ok(await inRegistry('alice/cut', upload.digest) < 0, 'no half blob was committed');
  } finally {
    await gw.stop();
  }
});

test('--workers 2: the same drain; the primary waits for both workers and exits 0', async () => {
  const metricsPort = await freePort();
  const gw = await startGateway(work, { ...base, shutdown: { delay: 2, grace: 30 }, metrics: { listen: `127.0.0.1:${metricsPort}` } },
    { args: ['--workers', '2'] });
  try {
    await gw.waitFor((e) => e.msg === 'all workers listening', 0, 15_000);
    await drainDuringUpload(gw, 'alice/workers', metricsPort);
    assert.equal(gw.entries().filter((e) => e.msg === 'stopped').length, 3, 'both workers and the primary');
    assert.equal(await refused(metricsPort), true, 'the metrics listener is closed at the end');
  } finally {
    await gw.stop();
  }
});

/**
 * Ctrl-C with an upload in flight and shutdown.grace 300 s, then Ctrl-C again:
 * the gateway stops at once, as docker compose does, instead of waiting.
 */
async function secondSignalDuringUpload(gw: GatewayProcess, name: string, cutLog: string) {
  // 600 chunks, 100 ms apart: a minute, far past the test's own bounds.
  const upload = await slowUpload(gw, name, 600, 100);
  await upload.started;
  const t0 = Date.now();
  gw.signal('SIGINT');
  const first = await gw.waitFor((e) => e.msg === 'shutting down' || e.msg === 'shutting down workers', 0, 15_000);
  assert.match(String(first.hint), /a second Ctrl-C \(SIGINT\) or SIGTERM stops at once/, 'the first signal says how to stop at once');
  await gw.waitFor((e) => e.msg === 'draining' && Number(e.requests) >= 1, 0, 15_000);
  // Signals within a second of the first are its duplicates (npm's, the group's): this one comes well after.
  await sleep(2_000);
  assert.equal(upload.sent() < 600, true, 'still uploading: the drain waits for it');
  assert.equal(await Promise.race([gw.exited(), sleep(500).then(() => 'running')]), 'running', 'draining, not stopped');
  gw.signal('SIGINT');
  const result = await upload.done;
  assert.ok('error' in result, `the client sees its upload cut: ${JSON.stringify(result)}`);
  const code = await Promise.race([gw.exited(), sleep(30_000).then(() => 'still running')]);
  const took = Date.now() - t0;
  assert.equal(code, 130, gw.logs().split('\n').filter((l) => !l.includes('"msg":"request"')).slice(-30).join('\n'));
  // shutdown.grace is 300 s: ended by the second signal, not by the grace period.
  assert.ok(took < 60_000, `stopped at once: ${took} ms after the first signal`);
  assert.ok(upload.sent() < 600, 'cut before the upload ended');
  const cut = gw.entries().find((e) => e.msg === cutLog) ?? assert.fail(`no '${cutLog}' in ${gw.logs()}`);
  assert.equal(cut.requests, 1, 'the log counts the transfer cut');
  assert.equal(cut.signal, 'SIGINT');
  assert.ok(!gw.entries().some((e) => e.msg === 'shutdown.grace is over: closing the connections still open'));
  assert.ok(gw.entries().some((e) => e.msg === 'stopped'));
  assert.ok(await inRegistry(name, upload.digest) < 0, 'no half blob was committed');
}

test('a second Ctrl-C (SIGINT) during the grace period stops at once: the upload is cut and counted, exit 130', async () => {
  const gw = await startGateway(work, { ...base, shutdown: { delay: 0, grace: 300 } });
  try {
    await secondSignalDuringUpload(gw, 'alice/again', 'second stop signal: stopping at once, cutting the transfers in flight');
  } finally {
    await gw.stop();
  }
});

test('--workers 2: a second SIGINT to the primary makes every worker stop at once; exit 130', async () => {
  const gw = await startGateway(work, { ...base, shutdown: { delay: 0, grace: 300 } }, { args: ['--workers', '2'] });
  try {
    await gw.waitFor((e) => e.msg === 'all workers listening', 0, 15_000);
    await secondSignalDuringUpload(gw, 'alice/again-workers', 'second stop signal: stopping at once, cutting the transfers in flight');
    // The idle worker has drained and exited already: the one with the upload is told.
    assert.ok(gw.entries().some((e) => e.msg === 'second stop signal: the workers stop at once' && Number(e.workers) >= 1));
  } finally {
    await gw.stop();
  }
});
