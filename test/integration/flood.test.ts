// Connection floods against a gateway whose descriptor limit is 1024: idle
// TCP connections past that limit from one address and slow anonymous bodies
// from five more must not keep an authenticated client from pulling, and the
// memory they took must come back.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { exec } from '../helpers/exec.js';
import { startGateway } from '../helpers/gateway.js';
import { request } from '../helpers/https.js';
import { buildImage, skopeoPolicy } from '../helpers/oci.js';
import { startRegistry } from '../helpers/registry.js';
import { stage } from '../helpers/stage.js';

const OPEN_FILES = 1024;
const IDLE = 1100;
const SLOW_PER_ADDRESS = 60;
const SLOW_ADDRESSES = ['127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7'];
const ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';

const { work, certs, htpasswd, ca, tls } = await stage({ alice: 'pw' });
const registry = await startRegistry(work, { storage: join(work, 'storage') });
after(() => registry.stop());

const layout = await buildImage(work, '1', [1 << 20]);
const seeded = await exec('skopeo', ['--policy', await skopeoPolicy(work), 'copy', '--dest-tls-verify=false', `oci:${layout}:1`,
  `docker://127.0.0.1:${registry.port}/public/app:1`], { env: { ...process.env, HOME: work } });
assert.equal(seeded.code, 0, seeded.stderr);

assert.ok(readFileSync('/usr/bin/prlimit'), 'prlimit (util-linux) is needed');
const gw = await startGateway(work, {
  upstream: registry.url,
  tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') },
  auth: { mode: 'htpasswd', htpasswd },
  access: [{ account: 'alice', name: '**', actions: ['*'] }, { account: '', name: 'public/**', actions: ['pull'] }],
}, { prefix: ['prlimit', `--nofile=${OPEN_FILES}:${OPEN_FILES}`, '--'] });
after(() => gw.stop());

const rssMiB = () => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${gw.pid}/status`, 'utf8'))![1]) / 1024;
const openFiles = () => readdirSync(`/proc/${gw.pid}/fd`).length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function pull(): Promise<number> {
  const started = Date.now();
  const opts = { ca, user: 'alice:pw', localAddress: '127.0.0.9', headers: { accept: ACCEPT } };
  const manifest = await request(`${gw.url}/v2/public/app/manifests/1`, opts);
  assert.equal(manifest.status, 200, manifest.body.toString());
  const digest = manifest.json().layers[0].digest as string;
  const blob = await request(`${gw.url}/v2/public/app/blobs/${digest}`, opts);
  assert.equal(blob.status, 200);
  assert.ok(blob.body.length > 1 << 20);
  return Date.now() - started;
}

async function medianRss(ms: number): Promise<number> {
  const samples: number[] = [];
  for (const end = Date.now() + ms; Date.now() < end; await sleep(100)) samples.push(rssMiB());
  return samples.sort((a, b) => a - b)[samples.length >> 1]!;
}

test('the descriptor limit applies and the cap derived from it is logged', async () => {
  assert.match(readFileSync(`/proc/${gw.pid}/limits`, 'utf8'), new RegExp(`^Max open files\\s+${OPEN_FILES}\\s+${OPEN_FILES}`, 'm'));
  const limits = await gw.waitFor((e) => e.msg === 'connection limits');
  assert.equal(limits.openFiles, OPEN_FILES);
  assert.equal(limits.connections, OPEN_FILES - 256 - 64, "'auto': the limit less upstream sockets and files");
  assert.equal(limits.connectionsPerAddress, 128);
});

test('idle connections past the descriptor limit and 300 slow bodies: a pull works, memory returns', { timeout: 150_000 }, async (t) => {
  const warmPull = await pull();
  const before = await medianRss(3000);
  let peak = before;
  let peakFiles = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssMiB());
    peakFiles = Math.max(peakFiles, openFiles());
  }, 100);
  const idle: Socket[] = [];
  const slow: TLSSocket[] = [];
  try {
    // (a) Plain TCP that never starts TLS, more than the process has descriptors.
    let closedIdle = 0;
    await within(30_000, 'opening idle connections', (async () => {
      for (let i = 0; i < IDLE; i += 100) {
        await Promise.all(Array.from({ length: Math.min(100, IDLE - i) }, () => new Promise<void>((resolve) => {
          const s = connect({ host: '127.0.0.1', port: gw.port, localAddress: '127.0.0.2' }, () => resolve());
          s.on('error', () => resolve());
          s.on('close', () => closedIdle++);
          idle.push(s);
        })));
      }
    })());

    // (b) Slow anonymous bodies: TLS done, headers sent, 2 of 100,000 body bytes.
    const answers: string[] = [];
    const slowErrors = new Set<string>();
    let closedSlow = 0;
    await within(45_000, 'starting slow bodies', Promise.all(SLOW_ADDRESSES.flatMap((localAddress) =>
      Array.from({ length: SLOW_PER_ADDRESS }, () => new Promise<void>((resolve) => {
        const s = tlsConnect({ socket: connect({ host: '127.0.0.1', port: gw.port, localAddress }), ca, servername: 'localhost' }, () => {
          const head = `POST /v2/public/app/blobs/uploads/ HTTP/1.1\r\nHost: 127.0.0.1:${gw.port}\r\nContent-Length: 100000\r\n\r\n`;
          s.write(`${head}xx`, () => resolve());
        });
        s.once('data', (d: Buffer) => answers.push(d.toString('latin1').split('\r\n')[0]!));
        s.on('error', (err) => {
          slowErrors.add(err.message);
          resolve();
        });
        s.on('close', () => closedSlow++);
        slow.push(s);
      })))));
    await sleep(1000);
    const idleOpen = idle.filter((s) => !s.destroyed).length;

    // (c) While both are held.
    const floodPull = await within(20_000, 'pull during the flood', pull()).catch((err: Error) => err);
    const health = await within(10_000, '/healthz', request(`${gw.url}/healthz`, { ca, localAddress: '127.0.0.9' }))
      .catch((err: Error) => err);
    const filesHeld = openFiles();

    // (d) Release everything; the memory must come back.
    const idleClosed = closedIdle;
    const slowClosed = closedSlow;
    idle.forEach((s) => s.destroy());
    slow.forEach((s) => s.destroy());
    const released = Date.now();
    let rssAfter = rssMiB();
    while (rssAfter > before + 64 && Date.now() - released < 30_000) {
      await sleep(500);
      rssAfter = rssMiB();
    }
    const settled = await medianRss(2000);
    clearInterval(sampler);
    const statuses = [...new Set(answers)].join(', ') || 'none';
    const during = typeof floodPull === 'number' ? `${floodPull} ms` : 'failed';
    const figures = `pull ${warmPull} ms before, ${during} during; RSS ${before.toFixed(1)} MiB before (median), ${peak.toFixed(1)} peak, `
      + `${rssAfter.toFixed(1)} ${Date.now() - released} ms after release (median ${settled.toFixed(1)} after 2 s more); `
      + `descriptors ${filesHeld} held, `
      + `${peakFiles} peak of ${OPEN_FILES}; idle TCP open ${idleOpen} of ${IDLE} (${idleClosed} closed by the gateway); `
      + `slow bodies: ${answers.length} of ${slow.length} answered (${statuses}), ${slowClosed} closed by the gateway before release, `
      + `errors: ${[...slowErrors].join('; ') || 'none'}`;
    t.diagnostic(figures);
    console.log(`flood figures: ${figures}`);

    assert.ok(typeof floodPull === 'number', `the pull during the flood failed: ${String(floodPull)}`);
    assert.ok(floodPull < 2000, `the pull took ${floodPull} ms`);
    assert.ok(!(health instanceof Error), `/healthz during the flood failed: ${String(health)}`);
    assert.equal(health.status, 200);
    assert.deepEqual([...slowErrors], [], 'every slow client completes TLS');
    assert.ok(idleOpen <= 128, `one address holds at most its 128 connections, not ${idleOpen}`);
    assert.ok(filesHeld < OPEN_FILES - 256, `descriptors stay clear of the limit: ${filesHeld}`);
    assert.ok(rssAfter <= before + 64, `RSS ${rssAfter.toFixed(1)} MiB 30 s after release, ${before.toFixed(1)} MiB before`);
    // The early answer to a body the gateway will not read (someone else's part): asserted last so that the figures above are kept.
    assert.equal(answers.length, slow.length, `every slow body is answered at once: ${answers.length} of ${slow.length} (${statuses})`);
    assert.equal(slowClosed, slow.length, `and its connection closed after the answer: ${slowClosed} of ${slow.length}`);
  } finally {
    clearInterval(sampler);
    idle.forEach((s) => s.destroy());
    slow.forEach((s) => s.destroy());
  }
});
