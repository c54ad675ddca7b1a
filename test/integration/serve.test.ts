// `gateway serve` against a real docker-registry upstream: auth, access rules,
// header hygiene, errors, reloads, aborts.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exec, gateway as gatewayCli, ROOT } from '../helpers/exec.js';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { request } from '../helpers/https.js';
import { buildImage, skopeoPolicy } from '../helpers/oci.js';
import { freePort, startRegistry, type Registry } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';

const work = await tempDir();
const certs = join(work, 'certs');
const htpasswd = join(work, 'htpasswd');
assert.equal((await gatewayCli(['certs', 'init', '--dir', certs, '--host', 'localhost', '--host', '127.0.0.1'])).code, 0);
for (const [user, pw] of [['admin', 'admin-pw'], ['bob', 'bob-pw'], ['carol', 'carol-pw']]) {
  assert.equal((await gatewayCli(['users', 'add', user!, '--password-stdin', '--min-length', '1', '--file', htpasswd, '--cost', '4'], { input: pw })).code, 0);
}
const ca = await readFile(join(certs, 'ca.crt'), 'utf8');
const storage = join(work, 'storage');
const upstreamPort = await freePort();
let registry: Registry = await startRegistry(work, { storage, port: upstreamPort });
const access = [
  { account: 'admin', name: '**', actions: ['*'] },
  { account: '*', name: '${account}/**', actions: ['pull', 'push'] },
  { account: '*', name: 'public/**', actions: ['pull'] },
  { account: '', name: 'public/**', actions: ['pull'] },
];
const gw: GatewayProcess = await startGateway(work, {
  upstream: registry.url,
  tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') },
  auth: { mode: 'htpasswd', htpasswd },
  access,
});
after(async () => {
  await gw.stop();
  await registry.stop();
});

// distribution answers 404 to a manifest GET that does not accept its media type.
const ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';
const get = (path: string, opts: Parameters<typeof request>[1] = { ca }) => request(gw.url + path, { ...opts, ca, headers: { accept: ACCEPT, ...(opts.headers ?? {}) } });


const policy = await skopeoPolicy(work);
let layerDigest = '';

before(async () => {
  // Seed the upstream directly (plain HTTP) with three repositories.
  const layout = await buildImage(work, '1', [4096]);
  for (const repo of ['alice/secret', 'bob/app', 'public/base']) {
    const r = await exec('skopeo', ['--policy', policy, 'copy', '--dest-tls-verify=false', `oci:${layout}:1`, `docker://127.0.0.1:${upstreamPort}/${repo}:1`], { env: { ...process.env, HOME: work } });
    assert.equal(r.code, 0, r.stderr);
  }
  const manifest = JSON.parse((await exec('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://127.0.0.1:${upstreamPort}/alice/secret:1`], { env: { ...process.env, HOME: work } })).stdout);
  layerDigest = manifest.layers[0].digest;
});

test('/v2/ without or with wrong credentials: 401 with a Basic challenge and the registry error form', async () => {
  for (const user of [undefined, 'bob:wrong', 'nobody:x']) {
    const r = await get('/v2/', { ca, ...(user ? { user } : {}) });
    assert.equal(r.status, 401);
    assert.equal(r.headers['www-authenticate'], 'Basic realm="registry-gateway", charset="UTF-8"');
    assert.equal(r.rawHeaders.filter((h) => h.toLowerCase() === 'docker-distribution-api-version').length, 1);
    assert.equal(r.json().errors[0].code, 'UNAUTHORIZED');
  }
  const ok = await get('/v2/', { ca, user: 'bob:bob-pw' });
  assert.equal(ok.status, 200);
  assert.equal(ok.rawHeaders.filter((h) => h.toLowerCase() === 'docker-distribution-api-version').length, 1, 'the upstream sets it; not added twice');
});

test('access rules: pull-only users cannot push or delete (403 DENIED); ${account}/** works; anonymous gets public/**', async () => {
  const bob = { ca, user: 'bob:bob-pw' };
  assert.equal((await get('/v2/bob/app/manifests/1', bob)).status, 200);
  assert.equal((await get('/v2/public/base/manifests/1', bob)).status, 200);
  const denied = await get('/v2/public/base/blobs/uploads/', { ...bob, method: 'POST' });
  assert.equal(denied.status, 403);
  assert.equal(denied.json().errors[0].code, 'DENIED');
  assert.equal((await get('/v2/alice/secret/manifests/1', bob)).status, 403);
  assert.equal((await get(`/v2/bob/app/manifests/${layerDigest}`, { ...bob, method: 'DELETE' })).status, 403);
  const upload = await get('/v2/bob/new/blobs/uploads/', { ...bob, method: 'POST' });
  assert.equal(upload.status, 202);
  assert.match(upload.headers.location!, new RegExp(`^https://127\\.0\\.0\\.1:${gw.port}/v2/bob/new/blobs/uploads/`));
  assert.equal((await get('/v2/public/base/manifests/1')).status, 200, 'anonymous pull of public/**');
  const anon = await get('/v2/bob/app/manifests/1');
  assert.equal(anon.status, 401, 'anonymous elsewhere is asked to log in');
  assert.equal((await get(`/v2/alice/secret/manifests/1`, { ca, user: 'admin:admin-pw' })).status, 200);
});

test('the catalog lists only what the account may pull', async () => {
  assert.deepEqual((await get('/v2/_catalog', { ca, user: 'bob:bob-pw' })).json().repositories, ['bob/app', 'public/base']);
  assert.deepEqual((await get('/v2/_catalog', { ca, user: 'carol:carol-pw' })).json().repositories, ['public/base']);
  assert.deepEqual((await get('/v2/_catalog', { ca, user: 'admin:admin-pw' })).json().repositories, ['alice/secret', 'bob/app', 'public/base']);
});

test('a cross-repository mount without pull on the source starts a plain upload and leaks nothing', async () => {
  const path = `/v2/bob/mounted/blobs/uploads/?mount=${layerDigest}&from=alice/secret`;
  const bob = await get(path, { ca, user: 'bob:bob-pw', method: 'POST' });
  assert.equal(bob.status, 202, 'not 201 Created: nothing was mounted');
  assert.equal((await get(`/v2/bob/mounted/blobs/${layerDigest}`, { ca, user: 'bob:bob-pw', method: 'HEAD' })).status, 404);
  const admin = await get(path.replace('bob/mounted', 'admin/mounted'), { ca, user: 'admin:admin-pw', method: 'POST' });
  assert.equal(admin.status, 201, 'with pull on the source the mount happens');
});

test('failed logins are throttled per address (429 + Retry-After) without locking out other clients', async () => {
  let last = 0;
  let retryAfter: string | undefined;
  for (let i = 0; i < 12; i++) {
    const r = await get('/v2/', { ca, user: 'carol:wrong', localAddress: '127.0.0.3' });
    last = r.status;
    retryAfter = r.headers['retry-after'] as string | undefined;
  }
  assert.equal(last, 429);
  assert.ok(Number(retryAfter) > 0);
  assert.equal((await get('/v2/', { ca, user: 'carol:carol-pw', localAddress: '127.0.0.4' })).status, 200, 'carol from elsewhere still logs in');
});

test('authenticated requests complete while 20 wrong passwords per second arrive from another address', async () => {
  assert.equal((await get('/v2/', { ca, user: 'bob:bob-pw' })).status, 200); // cached from here on
  let flooding = true;
  const flood = (async () => {
    let n = 0;
    while (flooding && n < 200) {
      void get('/v2/', { ca, user: `nobody${n}:wrong`, localAddress: `127.0.1.${(n % 200) + 1}` }).catch(() => {});
      n++;
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  // 24 at a time: within one address's share of the upstream (limits.upstreamPerAddress, 32 by default).
  const agent = new https.Agent({ keepAlive: true, maxSockets: 24, ca });
  const results = await Promise.all(Array.from({ length: 50 }, () => get('/v2/bob/app/manifests/1', { ca, user: 'bob:bob-pw', agent })));
  flooding = false;
  await flood;
  agent.destroy();
  assert.deepEqual([...new Set(results.map((r) => r.status))], [200]);
});

test('access log: one JSON line per request, no secrets', async () => {
  await get('/v2/bob/app/tags/list', { ca, user: 'bob:bob-pw' });
  const line = await gw.waitFor((e) => e.msg === 'request' && e.path === '/v2/bob/app/tags/list');
  for (const key of ['time', 'client', 'user', 'method', 'path', 'repository', 'action', 'status', 'bytesIn', 'bytesOut', 'durationMs']) assert.ok(key in line, key);
  assert.deepEqual([line.user, line.repository, line.action, line.status, line.client], ['bob', 'bob/app', 'pull', 200, '127.0.0.1']);
  const logs = gw.logs();
  for (const secret of ['bob-pw', 'admin-pw', 'carol-pw', Buffer.from('bob:bob-pw').toString('base64'), '_state=']) {
    assert.ok(!logs.includes(secret) || secret === '_state=' && !/_state=(?!REDACTED)/.test(logs), `log contains ${secret}`);
  }
});

test('/healthz needs no auth and reports the upstream', async () => {
  const r = await get('/healthz');
  assert.equal(r.status, 200);
  assert.deepEqual([r.json().status, r.json().upstream.reachable], ['ok', true]);
});

test('a removed user loses access within seconds, cache included', async () => {
  assert.equal((await gatewayCli(['users', 'add', 'dave', '--password-stdin', '--min-length', '1', '--file', htpasswd, '--cost', '4'], { input: 'dave-pw' })).code, 0);
  const deadline = Date.now() + 10_000;
  while ((await get('/v2/', { ca, user: 'dave:dave-pw' })).status !== 200) {
    assert.ok(Date.now() < deadline, 'new user never accepted');
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal((await gatewayCli(['users', 'remove', 'dave', '--file', htpasswd])).code, 0);
  while ((await get('/v2/', { ca, user: 'dave:dave-pw' })).status !== 401) {
    assert.ok(Date.now() < deadline + 5000, 'removed user still accepted');
    await new Promise((r) => setTimeout(r, 200));
  }
});

test('a client killed halfway through a 200 MiB upload leaves no upstream connection behind', async () => {
  const established = async () => {
    const r = await exec('ss', ['-Htn', 'state', 'established', `( dport = :${upstreamPort} )`]);
    return r.stdout.trim() === '' ? 0 : r.stdout.trim().split('\n').length;
  };
  const start = await get('/v2/bob/big/blobs/uploads/', { ca, user: 'bob:bob-pw', method: 'POST' });
  assert.equal(start.status, 202);
  const location = new URL(start.headers.location!);
  // Stream 100 of 200 MiB, count the upstream connections while the upload
  // is live, then kill the client.
  const during = await new Promise<number>((resolve) => {
    const req = https.request(location, { method: 'PATCH', ca, agent: false, headers: { authorization: `Basic ${Buffer.from('bob:bob-pw').toString('base64')}`, 'content-type': 'application/octet-stream' } });
    req.on('error', () => {});
    const chunk = Buffer.alloc(1024 * 1024, 7);
    let sent = 0;
    const pump = () => {
      while (sent < 100) {
        sent++;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      setTimeout(async () => {
        const n = await established();
        req.destroy();
        resolve(n);
      }, 200);
    };
    pump();
  });
  assert.ok(during >= 1, 'the upload had an upstream connection');
  // The aborted upload's upstream connection must go (idle pooled ones may stay).
  const deadline = Date.now() + 5000;
  let now = await established();
  while (now >= during && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    now = await established();
  }
  assert.ok(now < during, `upstream connections: ${during} during the upload, ${now} after the abort`);
  assert.equal((await get('/v2/', { ca, user: 'bob:bob-pw' })).status, 200, 'the gateway carries on');
});

test('upstream stopped: 503 that names no address (the log does); restarted: success without a gateway restart', async () => {
  await registry.stop();
  const logged = gw.entries().length;
  const down = await get('/v2/bob/app/manifests/1', { ca, user: 'bob:bob-pw' });
  assert.equal(down.status, 503);
  assert.equal(down.json().errors[0].code, 'UNAVAILABLE');
  assert.match(down.json().errors[0].message, /upstream registry is unavailable/);
  assert.doesNotMatch(down.body.toString(), new RegExp(`${upstreamPort}|127\\.0\\.0\\.1`), 'the upstream address is for the log only');
  await gw.waitFor((e) => e.msg === 'upstream request failed' && String(e.upstream).endsWith(`:${upstreamPort}`), logged);
  assert.equal((await get('/healthz')).status, 503);
  const catalogDown = await get('/v2/_catalog', { ca, user: 'bob:bob-pw' });
  assert.equal(catalogDown.status, 503);
  assert.equal(catalogDown.json().errors[0].code, 'UNAVAILABLE');
  registry = await startRegistry(work, { storage, port: upstreamPort });
  assert.equal((await get('/v2/bob/app/manifests/1', { ca, user: 'bob:bob-pw' })).status, 200);
});

test('SIGHUP reloads the certificate; an open connection keeps working', async () => {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca });
  assert.equal((await get('/v2/', { ca, user: 'bob:bob-pw', agent })).status, 200);
  const serial = () => new Promise<string>((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port: gw.port, ca, servername: 'localhost' }, () => {
      resolve(s.getPeerCertificate().serialNumber);
      s.end();
    });
    s.on('error', reject);
  });
  const old = await serial();
  assert.equal((await gatewayCli(['certs', 'renew', '--dir', certs])).code, 0);
  gw.signal('SIGHUP');
  const deadline = Date.now() + 5000;
  while ((await serial()) === old) {
    assert.ok(Date.now() < deadline, 'certificate not reloaded');
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal((await get('/v2/', { ca, user: 'bob:bob-pw', agent })).status, 200, 'the kept-alive connection still works');
  agent.destroy();
});

test('header hygiene and Location rewriting, seen from the upstream', async () => {
  // An upstream that records what it receives and answers with its own address.
  const seen: http.IncomingHttpHeaders[] = [];
  const echoPort = await freePort();
  const echo = http.createServer((req, res) => {
    seen.push(req.headers);
    req.resume();
    req.on('end', () => {
      res.writeHead(req.url!.includes('uploads') ? 202 : 200, {
        'Docker-Distribution-API-Version': 'registry/2.0',
        ...(req.url!.includes('uploads') ? { Location: `http://127.0.0.1:${echoPort}/v2/bob/x/blobs/uploads/u1?_state=abc` } : {}),
      });
      res.end();
    });
  }).listen(echoPort, '127.0.0.1');
  const proxy = await startGateway(work, {
    upstream: `http://127.0.0.1:${echoPort}`,
    publicUrl: 'https://localhost:5443',
    tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') },
    auth: { mode: 'htpasswd', htpasswd },
  });
  try {
    // A monolithic upload (POST with digest): the one upload start that takes a body.
    const r = await request(`${proxy.url}/v2/bob/x/blobs/uploads/?digest=sha256:${'2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881'}`, {
      ca, method: 'POST', user: 'bob:bob-pw', body: 'x',
      headers: { forwarded: 'host=evil.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-for': '6.6.6.6', 'x-real-ip': '6.6.6.6', 'x-forwarded-proto': 'http', expect: '100-continue', host: 'localhost:5443' },
    });
    assert.equal(r.status, 202);
    assert.equal(r.headers.location, 'https://localhost:5443/v2/bob/x/blobs/uploads/u1?_state=abc');
    const h = seen.pop()!;
    assert.equal(h.host, 'localhost:5443');
    assert.equal(h['x-forwarded-proto'], 'https');
    assert.equal(h['x-forwarded-host'], 'localhost:5443');
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(h.forwarded, undefined);
    assert.equal(h['x-real-ip'], undefined);
    assert.equal(h.authorization, undefined);
    assert.equal(h['content-type'], 'application/octet-stream', 'an upload\'s Content-Type is the gateway\'s');
    assert.equal(h.expect, undefined);

    // Paths outside the registry grammar are refused before the upstream sees them.
    const count = seen.length;
    for (const path of ['/v2/a/../alice/secret/manifests/1', '/v2/alice%2fsecret/manifests/1', '/v2/Alice/x/tags/list', '/etc/passwd', '/v2/a/blobs/uploads/../../b/tags/list']) {
      const status = await new Promise<number>((resolve, reject) => {
        // A raw request: clients normalise "..", an attacker does not.
        const sock = tlsConnect({ host: '127.0.0.1', port: proxy.port, ca, servername: 'localhost' }, () => sock.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic ${Buffer.from('bob:bob-pw').toString('base64')}\r\nConnection: close\r\n\r\n`));
        let data = '';
        sock.on('data', (d) => (data += d));
        sock.on('end', () => resolve(Number(data.split(' ')[1])));
        sock.on('error', reject);
      });
      assert.ok(status === 400 || status === 404, `${path}: ${status}`);
    }
    const huge = await request(`${proxy.url}/v2/`, { ca, user: 'bob:bob-pw', headers: { 'x-filler': 'a'.repeat(20_000) } }).catch((e: Error) => e);
    assert.ok(huge instanceof Error || huge.status === 431, 'headers over 16 KiB are refused');
    assert.equal(seen.length, count, 'the upstream saw none of them');
  } finally {
    await proxy.stop();
    echo.close();
  }
});

test('Host: a certified name with the listening port (or none) is reflected; any other port, or one over 65535, is a 400', async () => {
  const status = (host: string, path: string) => new Promise<number>((resolve, reject) => {
    const sock = tlsConnect({ host: '127.0.0.1', port: gw.port, ca, servername: 'localhost' },
      () => sock.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    let data = '';
    sock.on('data', (d) => (data += d));
    sock.on('end', () => resolve(Number(data.split(' ')[1])));
    sock.on('error', reject);
  });
  for (const host of ['localhost', `localhost:${gw.port}`, 'localhost:443', `127.0.0.1:${gw.port}`]) {
    assert.equal(await status(host, '/v2/'), 401, host);
  }
  for (const host of ['localhost:1', `localhost:${gw.port + 1}`, 'localhost:99999', '127.0.0.1:65536', 'localhost:0']) {
    for (const path of ['/v2/', '/ui/api/setup', '/ui/api/pull-secret']) assert.equal(await status(host, path), 400, `${host} ${path}`);
  }
});

test('a bad config stops the start with the field path', async () => {
  const path = join(work, 'bad.yaml');
  await (await import('node:fs/promises')).writeFile(path, 'listen: 127.0.0.1:1\nauth:\n  mode: htpasswd\n  htpaswd: x\n');
  const r = await gatewayCli(['serve', '--config', path]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /bad\.yaml: auth: unknown key\(s\) 'htpaswd'/);
  const busy = await gatewayCli(['serve', '--listen', `127.0.0.1:${gw.port}`, '--certs', certs, '--htpasswd', htpasswd, '--upstream', registry.url]);
  assert.equal(busy.code, 1);
  assert.match(busy.stderr, /cannot listen on 127\.0\.0\.1:\d+: the port is in use/);
});

test('gateway up: certificates, a first user and a local registry, all stopped on SIGTERM', async () => {
  const { spawn } = await import('node:child_process');
  const dir = await tempDir();
  const port = await freePort();
  const registryPort = await freePort();
  const child = spawn(process.execPath, [join(ROOT, 'dist/cli/main.js'), 'up', '--listen', `127.0.0.1:${port}`, '--registry-port', String(registryPort)], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    const deadline = Date.now() + 20_000;
    while (!out.includes('gateway started')) {
      assert.ok(Date.now() < deadline && child.exitCode === null, `up did not start: ${err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const password = /password: (\S+)/.exec(err)?.[1];
    assert.ok(password, err);
    assert.ok(!out.includes(password), 'the password is not in the JSON log');
    const localCa = await readFile(join(dir, 'certs', 'ca.crt'), 'utf8');
    const r = await request(`https://127.0.0.1:${port}/v2/_catalog`, { ca: localCa, user: `admin:${password}` });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), { repositories: [] });
    assert.match(out, new RegExp(`"upstream":"http://127.0.0.1:${registryPort}"`));
  } finally {
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  }
  const left = await exec('pgrep', ['-f', join(dir, 'data', 'registry.yml')]);
  assert.equal(left.stdout.trim(), '', 'the local registry was stopped');
});
