// Connection limits of `gateway serve` (src/server/connections.ts): the
// handshake clock, the per-address and global caps, renegotiation refused,
// and that deferring TLS to the first bytes leaves normal clients alone.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import https from 'node:https';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { request } from '../helpers/https.js';
import { startRegistry } from '../helpers/registry.js';
import { stage } from '../helpers/stage.js';

const { work, certs, htpasswd, ca, tls } = await stage({ alice: 'pw' });
const registry = await startRegistry(work, { storage: join(work, 'storage') });
after(() => registry.stop());
const base = { upstream: registry.url, tls, auth: { mode: 'htpasswd', htpasswd } };
const quick = await startGateway(work, { ...base, timeouts: { handshake: 2 } });
after(() => quick.stop());
const GLOBAL = 200;
const capped = await startGateway(work, { ...base, limits: { connections: GLOBAL } });
after(() => capped.stop());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sockets = new Set<Socket>();
after(() => sockets.forEach((s) => s.destroy()));

/** A plain TCP connection (no TLS); resolves once connected. */
function tcp(gw: GatewayProcess, localAddress: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: gw.port, localAddress }, () => resolve(s));
    s.on('error', reject);
    s.on('close', () => sockets.delete(s));
    sockets.add(s);
  });
}

/** Milliseconds until the gateway closes s, or undefined if it is still open after ms. */
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

const healthz = (gw: GatewayProcess, localAddress: string) => request(`${gw.url}/healthz`, { ca, localAddress });

test('a connection that never sends a ClientHello is closed after timeouts.handshake (2 s)', async () => {
  const silent = await tcp(quick, '127.0.0.10');
  const partial = await tcp(quick, '127.0.0.10');
  partial.write(Buffer.from([0x16, 0x03, 0x01])); // the start of a TLS record, then nothing
  const [a, b] = await Promise.all([closedWithin(silent, 8000), closedWithin(partial, 8000)]);
  assert.ok(a !== undefined && a >= 1500 && a < 5000, `silent connection closed after ${a} ms`);
  assert.ok(b !== undefined && b >= 1500 && b < 5000, `connection with a partial ClientHello closed after ${b} ms`);
  assert.equal((await healthz(quick, '127.0.0.10')).status, 200, 'a complete handshake is not cut');
});

test('the per-address cap refuses the 129th connection from one address; another address still connects', async () => {
  const first = await Promise.all(Array.from({ length: 128 }, () => tcp(capped, '127.0.0.20')));
  assert.deepEqual(await Promise.all(first.map((s) => closedWithin(s, 500))), first.map(() => undefined), '128 are kept');
  const extra = await tcp(capped, '127.0.0.20');
  const refused = await closedWithin(extra, 2000);
  assert.ok(refused !== undefined && refused < 1000, `the 129th is closed at once (${refused} ms)`);
  assert.equal((await healthz(capped, '127.0.0.21')).status, 200, 'another address is served');
  assert.notEqual(await closedWithin(await tcp(capped, '127.0.0.20'), 2000), undefined, 'still refused: a second refusal');
  first.pop()!.destroy();
  await sleep(300);
  assert.equal(await closedWithin(await tcp(capped, '127.0.0.20'), 500), undefined, 'a closed connection frees its place');
  const warnings = capped.entries().filter((e) => e.level === 'warn' && e.address === '127.0.0.20');
  assert.equal(warnings.length, 1, 'one warning per address and minute');
  assert.match(String(warnings[0]!.msg), /limits\.connectionsPerAddress/);
  sockets.forEach((s) => s.destroy());
});

test('limits.connections caps all client connections; a place frees when one closes', async () => {
  await sleep(300); // the previous test's sockets are gone on the gateway's side too
  const held = await Promise.all([
    ...Array.from({ length: 128 }, () => tcp(capped, '127.0.0.22')),
    ...Array.from({ length: GLOBAL - 128 }, () => tcp(capped, '127.0.0.23')),
  ]);
  assert.deepEqual(await Promise.all(held.map((s) => closedWithin(s, 500))), held.map(() => undefined), `${GLOBAL} are kept`);
  const over = await closedWithin(await tcp(capped, '127.0.0.24'), 2000);
  assert.ok(over !== undefined && over < 1000, `connection ${GLOBAL + 1} is dropped (${over} ms)`);
  assert.ok(capped.entries().some((e) => e.level === 'warn' && /limits\.connections:/.test(String(e.msg))), 'the drop is logged');
  held.splice(0, 10).forEach((s) => s.destroy());
  await sleep(300);
  assert.equal((await healthz(capped, '127.0.0.24')).status, 200);
  sockets.forEach((s) => s.destroy());
  const limits = await capped.waitFor((e) => e.msg === 'connection limits');
  assert.equal(limits.connections, GLOBAL);
});

test('a limits.connections above what the descriptor limit allows is logged with the fix', async () => {
  const big = await startGateway(work, { ...base, limits: { connections: 5000 } }, { prefix: ['prlimit', '--nofile=1024:1024', '--'] });
  try {
    const warning = await big.waitFor((e) => e.level === 'warn' && /limits\.connections is 5000/.test(String(e.msg)));
    assert.match(String(warning.msg), /1024 open files leave room for 704/);
    assert.match(String(warning.msg), /ulimit -n 5320.*LimitNOFILE=5320/);
  } finally {
    await big.stop();
  }
});

/** openssl s_client -tls1_2, sending `lines` one by one once the handshake is done; stdout and stderr together. */
function sClient(gw: GatewayProcess, lines: string[]): Promise<string> {
  return new Promise((resolve) => {
    const args = ['s_client', '-connect', `127.0.0.1:${gw.port}`, '-tls1_2', '-CAfile', join(certs, 'ca.crt'), '-servername', 'localhost'];
    const child = spawn('openssl', args);
    let out = '';
    let sent = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (sent || !/Verify return code: 0/.test(out)) return;
      sent = true;
      void (async () => {
        for (const line of lines) {
          await sleep(500);
          if (child.exitCode === null) child.stdin.write(line);
        }
        await sleep(1500);
        child.stdin.end();
      })();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.stdin.on('error', () => {});
    child.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

test('TLS 1.2 renegotiation is refused; a TLS 1.2 request without it works', async () => {
  const get = 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n';
  const plain = await sClient(capped, [get]);
  assert.match(plain, /New, TLSv1\.2, /);
  assert.match(plain, /HTTP\/1\.1 200 OK/);
  // "R" on a line of its own asks s_client to renegotiate.
  const reneg = await sClient(capped, ['R\n', get]);
  assert.match(reneg, /RENEGOTIATING/, 'the client asked');
  assert.match(reneg, /no renegotiation/, 'the gateway refused');
  assert.doesNotMatch(reneg, /HTTP\/1\.1 \d{3}/, 'and nothing was served on that connection afterwards');
});

test('keep-alive connections carry several requests (TLS starting on the first bytes)', async () => {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca });
  try {
    const reused: boolean[] = [];
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve, reject) => {
        const req = https.get(`${capped.url}/healthz`, { agent }, (res) => {
          reused.push(req.reusedSocket);
          assert.equal(res.statusCode, 200);
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', reject);
      });
    }
    assert.deepEqual(reused, [false, true, true]);
  } finally {
    agent.destroy();
  }
});

test('stopping does not wait for connections that never started TLS', async () => {
  await tcp(capped, '127.0.0.25');
  await sleep(200);
  const started = Date.now();
  assert.equal(await capped.stop(), 0);
  assert.ok(Date.now() - started < 5000, `stopped after ${Date.now() - started} ms (handshake limit 10 s)`);
});
