// PROXY protocol behind a real load balancer: HAProxy (Debian's) in TCP mode
// on loopback, one frontend sending v1 (send-proxy) and one v2
// (send-proxy-v2), both connecting to the gateway from 127.0.0.100, the one
// trusted address. Clients reach HAProxy from their own loopback addresses;
// the gateway must count each client apart (failed logins, connections),
// and refuse a PROXY header from anyone else and a trusted peer without one.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { onExit } from '../helpers/cleanup.js';
import { startGateway } from '../helpers/gateway.js';
import { request } from '../helpers/https.js';
import { freePort, startRegistry, waitForPort } from '../helpers/registry.js';
import { stage } from '../helpers/stage.js';
import { eventually } from '../helpers/eventually.js';

const BALANCER = '127.0.0.100';
const { work, htpasswd, ca, tls: certs } = await stage({ alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw' });
const registry = await startRegistry(work, { storage: join(work, 'storage') });
after(() => registry.stop());
const metricsPort = await freePort();
const gw = await startGateway(work, {
  upstream: registry.url, tls: certs, auth: { mode: 'htpasswd', htpasswd },
  proxyProtocol: { trusted: [`${BALANCER}/32`] },
  limits: { connectionsPerAddress: 4 },
  metrics: { listen: `127.0.0.1:${metricsPort}` },
});
after(() => gw.stop());

const [v1Port, v2Port] = [await freePort(), await freePort()];
const cfg = join(work, 'haproxy.cfg');
await writeFile(cfg, `global
  maxconn 256
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend v1
  bind 127.0.0.1:${v1Port}
  default_backend gateway_v1
frontend v2
  bind 127.0.0.1:${v2Port}
  default_backend gateway_v2
backend gateway_v1
  server gw 127.0.0.1:${gw.port} send-proxy source ${BALANCER}
backend gateway_v2
  server gw 127.0.0.1:${gw.port} send-proxy-v2 source ${BALANCER}
`);
const haproxy = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
let haproxyOut = '';
haproxy.stdout.on('data', (d) => (haproxyOut += d));
haproxy.stderr.on('data', (d) => (haproxyOut += d));
const forget = onExit(() => haproxy.kill('SIGKILL'));
after(async () => {
  haproxy.kill('SIGTERM');
  await new Promise((r) => (haproxy.exitCode !== null ? r(null) : haproxy.once('exit', r)));
  forget();
});
await waitForPort(v1Port).catch((err: Error) => assert.fail(`${err.message}: ${haproxyOut}`));
await waitForPort(v2Port);

const sockets = new Set<Socket>();
after(() => sockets.forEach((s) => s.destroy()));

/** GET /v2/ through HAProxy's frontend `port`, from the client address `from`. */
const v2 = (port: number, from: string, user: string) => request(`https://127.0.0.1:${port}/v2/`, {
  ca, user, localAddress: from, headers: { host: `127.0.0.1:${gw.port}` },
});

async function metric(name: string): Promise<number> {
  const text = await new Promise<string>((resolve, reject) => {
    http.get(`http://127.0.0.1:${metricsPort}/metrics`, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Milliseconds until the peer closes s, or undefined when still open after ms. */
function closedWithin(s: Socket, ms: number): Promise<number | undefined> {
  const started = Date.now();
  return new Promise((resolve) => {
    if (s.destroyed) return resolve(0);
    const timer = setTimeout(() => resolve(undefined), ms);
    s.on('error', () => {});
    s.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });
}

function tcp(port: number, localAddress: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, localAddress }, () => resolve(s));
    s.on('error', reject);
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
}

for (const [version, port] of [['v1', v1Port], ['v2', v2Port]] as const) {
  test(`PROXY ${version}: one client's failed logins do not throttle another behind the same balancer`, async () => {
    const guesser = version === 'v1' ? '127.0.0.31' : '127.0.0.41';
    const alice = version === 'v1' ? '127.0.0.32' : '127.0.0.42';
    // A user of its own per version: credentials verified moments ago pass without the throttles.
    const user = version === 'v1' ? 'alice' : 'carol';
    const from = gw.entries().length;
    for (let i = 0; i < 10; i++) assert.equal((await v2(port, guesser, `nobody${version}${i}:wrong`)).status, 401, `guess ${i + 1}`);
    const throttled = await v2(port, guesser, `${user}:${user}-pw`);
    assert.equal(throttled.status, 429, 'the guesser\'s own address is throttled after 10 failures');
    const ok = await v2(port, alice, `${user}:${user}-pw`);
    assert.equal(ok.status, 200, `${user} from another address behind the same balancer is served: ${ok.body}`);
    // The access log names the clients, not the balancer.
    const line = await gw.waitFor((e) => e.status === 200 && e.user === user && e.client === alice, from);
    assert.equal(line.client, alice);
    await gw.waitFor((e) => e.status === 429 && e.client === guesser, from);
    assert.ok(!gw.entries().slice(from).some((e) => e.client === BALANCER), 'no request is logged under the balancer\'s address');
  });
}

/** A TLS connection through the balancer: once the handshake is done, the gateway has read its header and counted it. */
function tlsVia(port: number, localAddress: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ socket: connect({ host: '127.0.0.1', port, localAddress }), ca, servername: 'localhost' }, () => resolve(s));
    s.on('error', reject);
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
}

test('connectionsPerAddress counts the clients behind the balancer, not the balancer', async () => {
  // Through TLS, so that all four are counted under 127.0.0.51 before the fifth arrives (the order
  // in which HAProxy's backend connections reach the gateway is not the clients' order).
  const hog = await Promise.all(Array.from({ length: 4 }, () => tlsVia(v2Port, '127.0.0.51')));
  await eventually(async () => {
    const extra = await tcp(v2Port, '127.0.0.51');
    assert.notEqual(await closedWithin(extra, 3000), undefined, 'the 5th connection of 127.0.0.51 is closed');
  });
  assert.deepEqual(await Promise.all(hog.map((s) => closedWithin(s, 300))), hog.map(() => undefined), 'its first 4 stay open');
  assert.equal((await v2(v2Port, '127.0.0.52', 'bob:bob-pw')).status, 200, 'another client behind the balancer is served');
  hog.forEach((s) => s.destroy());
});

test('a PROXY header from an untrusted address is refused, counted and logged; the peer\'s own TLS still works', async () => {
  const before = await metric('registry_gateway_proxy_protocol_refused_total{reason="untrusted"}');
  for (const header of [
    Buffer.from('PROXY TCP4 10.9.9.9 127.0.0.1 1234 5443\r\n'),
    Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11, 0, 12, 10, 9, 9, 9, 127, 0, 0, 1, 4, 210, 21, 67]),
  ]) {
    const spoofer = await tcp(gw.port, '127.0.0.61');
    spoofer.write(header);
    assert.notEqual(await closedWithin(spoofer, 5000), undefined, 'closed');
  }
  assert.equal(await metric('registry_gateway_proxy_protocol_refused_total{reason="untrusted"}'), before + 2);
  const warned = await gw.waitFor((e) => e.msg === 'PROXY protocol: connection refused' && e.peer === '127.0.0.61');
  assert.equal(warned.reason, 'untrusted');
  const direct = await request(`${gw.url}/v2/`, { ca, user: 'alice:alice-pw', localAddress: '127.0.0.61' });
  assert.equal(direct.status, 200, 'the same address without a header is an ordinary client');
  await gw.waitFor((e) => e.status === 200 && e.client === '127.0.0.61');
});

test('a trusted peer without a header is refused (proxyProtocol.required); a malformed header too', async () => {
  const before = await metric('registry_gateway_proxy_protocol_refused_total{reason="missing"}');
  const direct = await new Promise<string>((resolve) => {
    const s = tls.connect({ socket: connect({ host: '127.0.0.1', port: gw.port, localAddress: BALANCER }), ca, servername: 'localhost' }, () => resolve('handshake'));
    s.on('error', (err) => resolve(`error: ${err.message}`));
    s.on('close', () => resolve('closed'));
  });
  assert.notEqual(direct, 'handshake', 'no TLS without a header from the balancer\'s address');
  assert.equal(await metric('registry_gateway_proxy_protocol_refused_total{reason="missing"}'), before + 1);
  const bad = await tcp(gw.port, BALANCER);
  bad.write('PROXY TCP4 not-an-address 127.0.0.1 1 2\r\n');
  assert.notEqual(await closedWithin(bad, 5000), undefined);
  await eventually(async () => assert.ok(await metric('registry_gateway_proxy_protocol_refused_total{reason="invalid"}') >= 1));
});
