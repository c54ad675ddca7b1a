// Transport details against a real upstream: Range, monolithic PUT, 307
// pass-through, TLS versions, mutual TLS.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { exec, gateway as gatewayCli } from '../helpers/exec.js';
import { startGateway } from '../helpers/gateway.js';
import { request } from '../helpers/https.js';
import { freePort, startRegistry } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';

const work = await tempDir();
const certs = join(work, 'certs');
const htpasswd = join(work, 'htpasswd');
assert.equal((await gatewayCli(['certs', 'init', '--dir', certs, '--host', 'localhost', '--host', '127.0.0.1'])).code, 0);
assert.equal((await gatewayCli(['certs', 'issue', '--dir', certs, '--name', 'node1', '--client'])).code, 0);
assert.equal((await gatewayCli(['users', 'add', 'alice', '--password-stdin', '--min-length', '1', '--file', htpasswd, '--cost', '4'], { input: 'pw' })).code, 0);
const ca = await readFile(join(certs, 'ca.crt'), 'utf8');
const registry = await startRegistry(work, { storage: join(work, 'storage') });
const tls = { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') };
const gw = await startGateway(work, { upstream: registry.url, tls, auth: { mode: 'htpasswd', htpasswd } });
after(async () => {
  await gw.stop();
  await registry.stop();
});
const user = 'alice:pw';

test('monolithic PUT upload, then blob GET with Range', async () => {
  const blob = randomBytes(256 * 1024);
  const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
  const start = await request(`${gw.url}/v2/alice/blob/blobs/uploads/`, { ca, user, method: 'POST' });
  assert.equal(start.status, 202);
  const put = new URL(start.headers.location!);
  put.searchParams.set('digest', digest);
  const done = await request(put.toString(), { ca, user, method: 'PUT', body: blob, headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(done.status, 201, done.body.toString());
  assert.equal(done.headers['docker-content-digest'], digest);
  const part = await request(`${gw.url}/v2/alice/blob/blobs/${digest}`, { ca, user, headers: { range: 'bytes=100-199' } });
  assert.equal(part.status, 206);
  assert.deepEqual(part.body, blob.subarray(100, 200));
  const whole = await request(`${gw.url}/v2/alice/blob/blobs/${digest}`, { ca, user });
  assert.equal(createHash('sha256').update(whole.body).digest('hex'), digest.slice(7));
});

test('a 307 from the upstream reaches the client, not followed', async () => {
  const port = await freePort();
  const upstream = http.createServer((_req, res) => {
    res.writeHead(307, { Location: 'https://storage.example.invalid/blob?sig=1', 'Docker-Distribution-API-Version': 'registry/2.0' });
    res.end();
  }).listen(port, '127.0.0.1');
  const redirecting = await startGateway(work, { upstream: `http://127.0.0.1:${port}`, tls, auth: { mode: 'htpasswd', htpasswd } });
  try {
    const r = await request(`${redirecting.url}/v2/alice/blob/blobs/sha256:${'a'.repeat(64)}`, { ca, user });
    assert.equal(r.status, 307);
    assert.equal(r.headers.location, 'https://storage.example.invalid/blob?sig=1');
  } finally {
    await redirecting.stop();
    upstream.close();
  }
});

test('TLS 1.2 and 1.3 only', async () => {
  const s_client = (flag: string) => exec('openssl', ['s_client', '-connect', `127.0.0.1:${gw.port}`, '-CAfile', join(certs, 'ca.crt'), flag, '-cipher', 'DEFAULT@SECLEVEL=0'], { input: '' });
  for (const [flag, version] of [['-tls1_2', 'TLSv1.2'], ['-tls1_3', 'TLSv1.3']] as const) {
    const r = await s_client(flag);
    assert.match(r.stdout, new RegExp(`New, ${version.replace('.', '\\.')}, Cipher is (ECDHE|TLS_)`), `${flag}: ${r.stdout}`);
    assert.match(r.stdout, /Verify return code: 0 \(ok\)/);
  }
  for (const flag of ['-tls1', '-tls1_1']) {
    const r = await s_client(flag);
    assert.match(r.stdout, /Cipher is \(NONE\)/, flag);
    assert.match(r.stderr, /alert protocol version/, flag);
  }
});

test('mutual TLS: with tls.clientCA a client certificate from the CA is required', async () => {
  const mtls = await startGateway(work, { upstream: registry.url, tls: { ...tls, clientCA: join(certs, 'ca.crt') }, auth: { mode: 'htpasswd', htpasswd } });
  try {
    const handshake = (withCert: boolean) => new Promise<string>((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port: mtls.port, ca, servername: 'localhost', ...(withCert ? { cert: readFileSync(join(certs, 'node1.crt'), 'utf8'), key: readFileSync(join(certs, 'node1.key'), 'utf8') } : {}) }, () => {
        s.write('GET /v2/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
      });
      let data = '';
      s.on('data', (d) => (data += d));
      s.on('end', () => resolve(data.split('\r\n')[0]!));
      s.on('error', (e) => resolve(`error: ${e.message}`));
    });
    assert.match(await handshake(true), /^HTTP\/1\.1 401/, 'handshake passes; Basic auth still applies');
    assert.match(await handshake(false), /^error: |^$/, 'refused without a client certificate');
  } finally {
    await mtls.stop();
  }
});

test('--workers 2: both workers serve, sign tokens with one key, reload on SIGHUP and stop on SIGTERM', async () => {
  const tokenKey = join(certs, 'workers-token.key');
  const port = await freePort();
  const multi = await startGateway(work, {
    listen: `127.0.0.1:${port}`,
    upstream: registry.url,
    tls,
    auth: { mode: 'token', htpasswd, token: { service: `127.0.0.1:${port}`, signingKey: tokenKey } },
  }, { args: ['--workers', '2'] });
  const children = async () => (await exec('pgrep', ['-P', String(multi.pid)])).stdout.trim().split('\n').filter(Boolean);
  try {
    await multi.waitFor((e) => e.msg === 'all workers listening');
    assert.equal((await children()).length, 2);
    const kids = new Set<string>();
    for (let i = 0; i < 12; i++) {
      // A new connection each time: the cluster spreads them over the workers.
      const r = await request(`${multi.url}/token?service=127.0.0.1:${port}`, { ca, user });
      assert.equal(r.status, 200);
      kids.add(JSON.parse(Buffer.from(r.json().token.split('.')[0], 'base64url').toString()).kid);
    }
    assert.equal(kids.size, 1, 'one signing key, created by the primary before forking');
    // The failed-login throttle (10 per address per minute) is shared: spread
    // over two workers, a guesser still gets 10 tries, not 20.
    const wrong = 'alice:not-the-password';
    for (let i = 0; i < 10; i++) assert.equal((await request(`${multi.url}/token?service=127.0.0.1:${port}`, { ca, user: wrong })).status, 401, `try ${i + 1}`);
    for (let i = 0; i < 4; i++) assert.equal((await request(`${multi.url}/token?service=127.0.0.1:${port}`, { ca, user: wrong })).status, 429, `try ${i + 11}`);
    multi.signal('SIGHUP');
    const deadline = Date.now() + 5000;
    while (multi.entries().filter((e) => e.msg === 'TLS certificate reloaded').length < 2) {
      assert.ok(Date.now() < deadline, 'each worker reloads');
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    const pids = await children();
    assert.equal(await multi.stop(), 0);
    for (const pid of pids) assert.equal((await exec('kill', ['-0', pid])).code, 1, `worker ${pid} is gone`);
  }
});
