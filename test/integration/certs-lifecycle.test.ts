// Life after the first start: names added with the same CA (certs add-host,
// up --host), picked up by a running gateway; and the server certificate
// renewed by `serve` itself without dropping open connections.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import tls from 'node:tls';
import { exec, gateway, ROOT } from '../helpers/exec.js';
import { startGateway } from '../helpers/gateway.js';
import { freePort, startRegistry } from '../helpers/registry.js';
import { onExit } from '../helpers/cleanup.js';
import { tempDir } from '../helpers/tmp.js';

const work = await tempDir();
const registry = await startRegistry(work, { storage: join(work, 'storage') });
after(() => registry.stop());

const sans = async (path: string) => new X509Certificate(await readFile(path)).subjectAltName ?? '';

/** The certificate a new TLS connection is given, and the socket (kept open). */
function connect(port: number, ca: string): Promise<{ cert: tls.PeerCertificate; socket: tls.TLSSocket }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: undefined }, () => resolve({ cert: socket.getPeerCertificate(), socket }));
    socket.once('error', reject);
  });
}

/** One HTTP/1.1 request on an open socket; the connection stays open. */
function healthz(socket: tls.TLSSocket, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (d: Buffer) => {
      text += d.toString();
      if (/\r\n\r\n[\s\S]*ok/.test(text) || /Content-Length: 0\r\n\r\n$/i.test(text)) {
        socket.off('data', onData);
        resolve(text.split('\r\n')[0]!);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
  });
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('certs add-host: new names with the same CA; a name outside the constraints changes nothing and names the way out', async () => {
  const dir = join(await tempDir(), 'certs');
  assert.equal((await gateway(['certs', 'init', '--dir', dir, '--host', 'localhost', '--host', '127.0.0.1'])).code, 0);
  const ca = await readFile(join(dir, 'ca.crt'), 'utf8');
  const r = await gateway(['certs', 'add-host', '--dir', dir, '--host', '198.18.99.214', '--host', 'registry.lan', '--host', 'localhost']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /added 198\.18\.99\.214, registry\.lan: server\.crt now names localhost, 127\.0\.0\.1, 198\.18\.99\.214, registry\.lan/);
  assert.equal(await readFile(join(dir, 'ca.crt'), 'utf8'), ca, 'the CA is kept: nodes need nothing new');
  assert.equal(await sans(join(dir, 'server.crt')), 'DNS:localhost, IP Address:127.0.0.1, IP Address:198.18.99.214, DNS:registry.lan');
  // OpenSSL checks the CA's name constraints against every SAN.
  const verify = await exec('openssl', ['verify', '-purpose', 'sslserver', '-x509_strict', '-CAfile', join(dir, 'ca.crt'), join(dir, 'server.crt')]);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);

  const again = await gateway(['certs', 'add-host', '--dir', dir, '--host', 'registry.lan']);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /already names registry\.lan; nothing changed/);

  const before = await readFile(join(dir, 'server.crt'), 'utf8');
  const outside = await gateway(['certs', 'add-host', '--dir', dir, '--host', 'registry.example.com']);
  assert.equal(outside.code, 2);
  assert.match(outside.stderr, /registry\.example\.com is outside the CA's name constraints .*gateway certs rollover start --dir .* --permit registry\.example\.com/);
  assert.equal(await readFile(join(dir, 'server.crt'), 'utf8'), before, 'server.crt untouched');
});

test('init --permit widens the constraints; --exact-names narrows them to the names given', async () => {
  const wide = join(await tempDir(), 'wide');
  const r = await gateway(['certs', 'init', '--dir', wide, '--host', 'localhost', '--permit', 'corp.example.com', '--permit', '203.0.113.7/24']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /DNS:corp\.example\.com, IP:203\.0\.113\.0\/24/);
  assert.equal((await gateway(['certs', 'add-host', '--dir', wide, '--host', 'git.corp.example.com', '--host', '203.0.113.9'])).code, 0);
  assert.equal((await gateway(['certs', 'add-host', '--dir', wide, '--host', 'example.com'])).code, 2);
  const bad = await gateway(['certs', 'init', '--dir', join(wide, 'x'), '--permit', '10.0.0.0/99']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /invalid --permit '10\.0\.0\.0\/99': the prefix length must be 1 to 32/);

  const exact = join(await tempDir(), 'exact');
  const e = await gateway(['certs', 'init', '--dir', exact, '--host', 'registry.test', '--exact-names']);
  assert.equal(e.code, 0, e.stderr);
  assert.match(e.stdout, /name constraints: exact; this CA can only sign for DNS:registry\.test\. A name outside/);
  assert.equal((await gateway(['certs', 'add-host', '--dir', exact, '--host', 'registry.lan'])).code, 2);
});

test('up --host after the first start adds the name with the same CA; a running gateway serves it without a restart', async () => {
  const dir = await tempDir();
  const port = await freePort();
  const up = (extra: string[]) => {
    const child = spawn(process.execPath, [join(ROOT, 'dist/cli/main.js'), 'up', '--listen', `127.0.0.1:${port}`, '--upstream', registry.url, ...extra],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const forget = onExit(() => child.kill('SIGKILL'));
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => {
      forget();
      r(code);
    }));
    return { out: () => out, exited, stop: async () => (child.kill('SIGTERM'), exited) };
  };
  const first = up([]);
  await waitUntil('the first start', async () => first.out().includes('gateway started'));
  const caPath = join(dir, 'certs', 'ca.crt');
  const ca = await readFile(caPath, 'utf8');
  assert.match(await sans(join(dir, 'certs', 'server.crt')), /DNS:localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/);
  const { socket } = await connect(port, ca);
  assert.match(await healthz(socket, port), /200/);
  // Added while it runs: the next handshake has the name, the open connection carries on.
  const add = await gateway(['certs', 'add-host', '--dir', join(dir, 'certs'), '--host', '198.18.99.214']);
  assert.equal(add.code, 0, add.stderr);
  await waitUntil('the gateway to serve the new name', async () => {
    const { cert, socket: s } = await connect(port, ca);
    s.destroy();
    return (cert.subjectaltname ?? '').includes('198.18.99.214');
  });
  assert.match(await healthz(socket, port), /200/, 'a connection opened before the change keeps working');
  socket.destroy();
  // One reload for add-host's two files, logged once, and no failed reload of a half-written pair. The
  // watch polls every 2 s: by 3 polls after the new setup commands, a second reload would have shown.
  await waitUntil('the new setup commands', async () => first.out().includes('node setup changed'));
  await new Promise((r) => setTimeout(r, 6000));
  const logged = (msg: string) => first.out().split('\n').filter((l) => l.includes(`"msg":"${msg}"`)).length;
  assert.equal(logged('TLS certificate reloaded'), 1, first.out());
  assert.equal(logged('TLS reload failed; keeping the current certificate'), 0);
  assert.equal(await first.stop(), 0);

  const second = up(['--host', '10.20.30.40']);
  await waitUntil('the second start', async () => second.out().includes('gateway started'));
  assert.match(second.out(), /added 10\.20\.30\.40 to certs\/server\.crt \(same CA: nodes need nothing new\)/);
  assert.equal(await readFile(caPath, 'utf8'), ca, 'the CA is the one nodes already trust');
  const names = await sans(join(dir, 'certs', 'server.crt'));
  assert.match(names, /198\.18\.99\.214/);
  assert.match(names, /10\.20\.30\.40/);
  const { cert, socket: s2 } = await connect(port, ca);
  s2.destroy();
  assert.match(cert.subjectaltname ?? '', /10\.20\.30\.40/);
  assert.equal(await second.stop(), 0);
});

test('up --host at the first start keeps the default names beside the given ones', async () => {
  const dir = await tempDir();
  const port = await freePort();
  const child = spawn(process.execPath, [join(ROOT, 'dist/cli/main.js'), 'up', '--listen', `127.0.0.1:${port}`, '--upstream', registry.url,
    '--host', 'registry.lan'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const forget = onExit(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    await waitUntil('the start', async () => out.includes('gateway started'));
    assert.match(out, /name constraints: private; .*certs add-host/);
    assert.match(await sans(join(dir, 'certs', 'server.crt')), /^DNS:localhost, IP Address:127\.0\.0\.1, .*DNS:registry\.lan$/);
  } finally {
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    forget();
  }
});

test('serve renews its server certificate when few days are left, logs it, and keeps open connections', async () => {
  const dir = join(await tempDir(), 'certs');
  assert.equal((await gateway(['certs', 'init', '--dir', dir, '--host', '127.0.0.1', '--days', '3'])).code, 0);
  const ca = await readFile(join(dir, 'ca.crt'), 'utf8');
  const old = new X509Certificate(await readFile(join(dir, 'server.crt')));
  const gw = await startGateway(work, {
    upstream: registry.url,
    auth: { mode: 'none' },
    tls: { cert: join(dir, 'server.crt'), key: join(dir, 'server.key'), renew: { before: 30, days: 100, every: 1 } },
  });
  try {
    // Renewed before listening: the first handshake already has the new one.
    const renewed = await gw.waitFor((e) => e.msg === 'server certificate renewed');
    assert.equal((renewed.was as { daysLeft: number }).daysLeft, 2);
    assert.equal((renewed.now as { daysLeft: number }).daysLeft, 99);
    const started = await gw.waitFor((e) => e.msg === 'gateway started');
    assert.equal((started.certificate as { daysLeft: number }).daysLeft, 99);
    const first = await connect(gw.port, ca);
    assert.notEqual(first.cert.serialNumber, old.serialNumber.toUpperCase());
    assert.match(await healthz(first.socket, gw.port), /200/);

    // A certificate replaced by hand with a short one is renewed by the next check.
    const from = gw.entries().length;
    assert.equal((await gateway(['certs', 'renew', '--dir', dir, '--days', '5'])).code, 0);
    const again = await gw.waitFor((e) => e.msg === 'server certificate renewed', from, 15_000);
    assert.equal((again.was as { daysLeft: number }).daysLeft, 4);
    const served = new X509Certificate(await readFile(join(dir, 'server.crt')));
    await waitUntil('the renewed certificate to be served', async () => {
      const { cert, socket } = await connect(gw.port, ca);
      socket.destroy();
      return cert.serialNumber === served.serialNumber.toUpperCase();
    });
    assert.match(await healthz(first.socket, gw.port), /200/, 'the connection opened before both renewals still answers');
    first.socket.destroy();
    const show = await gateway(['certs', 'show', '--dir', dir]);
    assert.match(show.stdout, /server\.crt[\s\S]*\(99 days left\)/);
  } finally {
    await gw.stop();
  }
});

test('renew settings are checked: renew.days must exceed renew.before', async () => {
  const path = join(work, 'renew-bad.yaml');
  await (await import('node:fs/promises')).writeFile(path, 'tls:\n  renew:\n    before: 30\n    days: 20\n');
  const r = await gateway(['serve', '--config', path]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /renew-bad\.yaml: tls\.renew: renew\.days must be more than renew\.before/);
});

test('init --force --new-ca is refused while a CA rollover is in progress', async () => {
  const dir = join(await tempDir(), 'certs');
  assert.equal((await gateway(['certs', 'init', '--dir', dir, '--host', '127.0.0.1'])).code, 0);
  assert.equal((await gateway(['certs', 'rollover', 'start', '--dir', dir])).code, 0);
  const ca = await readFile(join(dir, 'ca.crt'), 'utf8');
  const r = await gateway(['certs', 'init', '--dir', dir, '--force', '--new-ca']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /a CA rollover is in progress in .* \(ca-next\.crt\); .*gateway certs rollover status/);
  assert.equal(await readFile(join(dir, 'ca.crt'), 'utf8'), ca);
});
