// The upstream pool cannot be filled by one principal or by anonymous
// callers (issue 21, item 2). The reviewer's scenario, scaled to a pool of
// 32 (the default shares are the same fractions of it): anonymous blob GETs
// whose readers pause, from two addresses, and carol's chunked PATCHes
// trickling a byte a second, from two more. alice's manifest GET from a
// fifth address must answer at once; the paused readers and the trickles are
// cut (timeouts.bodyStall, timeouts.bodyMinBytes). On a pool made full on
// purpose, waiting for a socket ends in 503 with Retry-After (timeouts.poolWait).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { request } from '../helpers/https.js';
import { startRegistry } from '../helpers/registry.js';
import { stage } from '../helpers/stage.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const { work, certs, htpasswd, ca } = await stage({ alice: 'alice-pw', carol: 'carol-pw' });
const registry = await startRegistry(work, { storage: join(work, 'storage') });
after(() => registry.stop());
const tls = { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') };
const access = [
  { account: 'alice', name: 'alice/**', actions: ['pull', 'push'] },
  { account: 'carol', name: 'carol/**', actions: ['pull', 'push'] },
  { account: '', name: 'public/**', actions: ['pull'] },
];

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
async function putBlob(name: string, bytes: Buffer): Promise<string> {
  const start = await fetch(`${registry.url}/v2/${name}/blobs/uploads/`, { method: 'POST' });
  await start.arrayBuffer();
  const location = new URL(start.headers.get('location')!, registry.url);
  location.searchParams.set('digest', sha(bytes));
  const put = await fetch(location, { method: 'PUT', body: new Uint8Array(bytes) });
  await put.arrayBuffer();
  assert.equal(put.status, 201);
  return sha(bytes);
}
// A blob larger than what the kernel's buffers hold for a reader that never reads.
const big = await putBlob('public/big', Buffer.alloc(32 * 1024 * 1024, 7));
const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
const configDigest = await putBlob('alice/secret', config);
const manifest = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length }, layers: [] });
const putManifest = await fetch(`${registry.url}/v2/alice/secret/manifests/1`, { method: 'PUT', body: manifest, headers: { 'content-type': OCI_MANIFEST } });
assert.equal(putManifest.status, 201);

const basic = (creds: string) => `Basic ${Buffer.from(creds).toString('base64')}`;
const open: TLSSocket[] = [];
after(() => open.forEach((s) => s.destroy()));

/** A raw TLS connection from `from` that sends `head` and then never reads. */
function connectFrom(gw: GatewayProcess, from: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const tcp = netConnect({ host: '127.0.0.1', port: gw.port, localAddress: from });
    const s = tlsConnect({ socket: tcp, servername: 'localhost', ca }, () => resolve(s));
    s.once('error', reject);
    open.push(s);
  });
}
async function pausedReader(gw: GatewayProcess, from: string): Promise<TLSSocket> {
  const s = await connectFrom(gw, from);
  s.on('error', () => {});
  s.write(`GET /v2/public/big/blobs/${big} HTTP/1.1\r\nHost: 127.0.0.1:${gw.port}\r\n\r\n`);
  s.pause();
  return s;
}
/** carol's upload, started normally, then PATCHed a chunk of one byte each second. */
async function trickle(gw: GatewayProcess, from: string): Promise<TLSSocket> {
  const start = await request(`${gw.url}/v2/carol/up/blobs/uploads/`, { ca, method: 'POST', user: 'carol:carol-pw', localAddress: from });
  const location = new URL(start.headers.location ?? '/', gw.url);
  const s = await connectFrom(gw, from);
  s.on('error', () => {});
  s.resume();
  s.write(`PATCH ${location.pathname}${location.search} HTTP/1.1\r\nHost: 127.0.0.1:${gw.port}\r\nAuthorization: ${basic('carol:carol-pw')}\r\n` +
    'Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n');
  const timer = setInterval(() => (s.destroyed ? clearInterval(timer) : s.write('1\r\nx\r\n')), 1000);
  s.once('close', () => clearInterval(timer));
  return s;
}
const closed = (s: TLSSocket) => s.destroyed || s.closed;

test("the reviewer's scenario: alice's manifest GET from a fifth address answers at once; readers and trickles are cut", async () => {
  const gw = await startGateway(work, {
    upstream: registry.url, tls, auth: { mode: 'htpasswd', htpasswd }, access,
    limits: { upstreamSockets: 32 }, timeouts: { bodyStall: 3 },
  });
  after(() => gw.stop());
  const from = gw.entries().length;
  const readers = (await Promise.all(['127.0.0.31', '127.0.0.32'].flatMap((a) => Array.from({ length: 16 }, () => pausedReader(gw, a)))));
  const trickles = await Promise.all(['127.0.0.41', '127.0.0.42'].flatMap((a) => Array.from({ length: 16 }, () => trickle(gw, a))));
  await new Promise((r) => setTimeout(r, 500)); // all of them at the gateway, the admitted ones holding the upstream
  const started = performance.now();
  const r = await request(`${gw.url}/v2/alice/secret/manifests/1`, { ca, user: 'alice:alice-pw', localAddress: '127.0.0.77', headers: { accept: OCI_MANIFEST } });
  const took = performance.now() - started;
  console.log(`[pool] alice's manifest GET beside 32 paused readers and 32 trickles: ${r.status} in ${took.toFixed(0)} ms`);
  assert.equal(r.status, 200, r.body.toString());
  assert.ok(took < 2000, `alice waited ${took.toFixed(0)} ms`);
  // The shares let 8 anonymous readers and 8 of carol's uploads through; the gateway cuts them after bodyStall (3 s).
  const cuts = (msg: string) => gw.entries().slice(from).filter((e) => e.msg === msg).length;
  const READER = 'client stopped reading the response; closing the connection';
  const TRICKLE = 'request body stalled or trickling; closing the connection';
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && (cuts(READER) < 8 || cuts(TRICKLE) < 8)) await new Promise((res) => setTimeout(res, 200));
  console.log(`[pool] cut: ${cuts(READER)} paused readers, ${cuts(TRICKLE)} trickles, ${((performance.now() - started) / 1000).toFixed(1)} s after`);
  assert.equal(cuts(READER), 8, 'the 8 readers admitted (upstreamAnonymous) are cut');
  assert.equal(cuts(TRICKLE), 8, "carol's 8 uploads admitted (upstreamPerAccount) are cut");
  // Those refused were answered 429 and hold nothing upstream (an unread 429 leaves only an idle client connection).
  assert.ok(trickles.every(closed), 'every trickling upload connection is closed');
  const refused = gw.entries().slice(from).filter((e) => e.status === 429).length;
  assert.ok(refused >= 40, `over their shares, ${refused} were refused at once (429)`);
});

test('waiting for a socket of a full pool ends in 503 with Retry-After after timeouts.poolWait', async () => {
  const gw = await startGateway(work, {
    upstream: registry.url, tls, auth: { mode: 'htpasswd', htpasswd }, access,
    limits: { upstreamSockets: 8, upstreamAnonymous: 4, upstreamPerAccount: 4, upstreamPerAddress: 4 },
    timeouts: { bodyStall: 120, poolWait: 1 },
  });
  after(() => gw.stop());
  await Promise.all(Array.from({ length: 4 }, () => pausedReader(gw, '127.0.0.51')));
  await Promise.all(Array.from({ length: 4 }, () => trickle(gw, '127.0.0.52')));
  await new Promise((r) => setTimeout(r, 500));
  const started = performance.now();
  const r = await request(`${gw.url}/v2/alice/secret/manifests/1`, { ca, user: 'alice:alice-pw', localAddress: '127.0.0.53', headers: { accept: OCI_MANIFEST } });
  const took = performance.now() - started;
  console.log(`[pool] full pool: ${r.status} after ${took.toFixed(0)} ms`);
  assert.equal(r.status, 503, r.body.toString());
  assert.equal(r.headers['retry-after'], '5');
  assert.match(r.json().errors[0].message, /limits\.upstreamSockets/);
  assert.ok(took >= 900 && took < 10_000, `answered after ${took.toFixed(0)} ms`);
});
