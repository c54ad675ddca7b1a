// docker login, push and pull through the gateway, trusting only ca.crt in
// /etc/docker/certs.d/HOST:PORT/. The gateway and its upstream run in a test
// network namespace: on loopback Docker would skip the certificate check.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exec, gateway as gatewayCli } from '../helpers/exec.js';
import { startGateway } from '../helpers/gateway.js';
import { createTestHost } from '../helpers/netns.js';
import { startRegistry } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';
import { onExit } from '../helpers/cleanup.js';
import { readdirSync, rmSync } from 'node:fs';

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

const work = await tempDir();
const testHost = await createTestHost();
cleanups.push(() => testHost.remove());
const certs = join(work, 'certs');
const htpasswd = join(work, 'htpasswd');
assert.equal((await gatewayCli(['certs', 'init', '--dir', certs, '--host', testHost.address])).code, 0);
assert.equal((await gatewayCli(['users', 'add', 'alice', '--password-stdin', '--file', htpasswd], { input: 'alice-pw' })).code, 0);

const registry = await startRegistry(work, { storage: join(work, 'storage'), port: 5000, prefix: testHost.prefix });
cleanups.push(() => registry.stop());
const gw = await startGateway(work, {
  listen: `${testHost.address}:5443`,
  upstream: 'http://127.0.0.1:5000',
  tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') },
  auth: { mode: 'htpasswd', htpasswd },
}, { prefix: testHost.prefix, host: testHost.address });
cleanups.push(() => gw.stop());
const registryHost = `${testHost.address}:5443`;
// The same registry behind a second gateway in token mode.
const tokenHost = `${testHost.address}:5444`;
const tokenGw = await startGateway(work, {
  listen: tokenHost,
  upstream: 'http://127.0.0.1:5000',
  tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') },
  auth: { mode: 'token', htpasswd, token: { service: tokenHost, signingKey: join(certs, 'token.key') } },
}, { prefix: testHost.prefix, host: testHost.address });
cleanups.push(() => tokenGw.stop());

// dockerd writes /etc/docker/key.json (no flag moves it): remove what it adds.
const etcDockerBefore = new Set(await readdir('/etc/docker').catch(() => []));
const removeEtcAdditions = () => {
  let now: string[] = [];
  try { now = readdirSync('/etc/docker'); } catch { return; }
  for (const f of now) if (!etcDockerBefore.has(f) && f !== 'certs.d') rmSync(join('/etc/docker', f), { recursive: true, force: true });
};
cleanups.push(async () => removeEtcAdditions());
onExit(removeEtcAdditions);

// Docker's own daemon, in this namespace, with its state in the test directory.
const dockerRoot = join('/tmp', `gwdocker-${randomBytes(3).toString('hex')}`);
await mkdir(dockerRoot);
cleanups.push(() => rm(dockerRoot, { recursive: true, force: true }));
onExit(() => rmSync(dockerRoot, { recursive: true, force: true }));
await writeFile(join(dockerRoot, 'daemon.json'), '{}');
const sock = join(dockerRoot, 'docker.sock');
const dockerd = spawn('dockerd', ['--iptables=false', '--bridge=none', '--storage-driver=vfs', '--data-root', join(dockerRoot, 'data'), '--exec-root', join(dockerRoot, 'exec'), '-H', `unix://${sock}`, '--pidfile', join(dockerRoot, 'docker.pid'), '--config-file', join(dockerRoot, 'daemon.json')], { stdio: ['ignore', 'pipe', 'pipe'] });
let dockerdLog = '';
dockerd.stdout!.on('data', (d) => (dockerdLog += d));
dockerd.stderr!.on('data', (d) => (dockerdLog += d));
const dockerdExit = new Promise((r) => dockerd.once('exit', r));
onExit(() => dockerd.kill('SIGKILL'));
cleanups.push(async () => {
  dockerd.kill('SIGTERM');
  const timer = setTimeout(() => dockerd.kill('SIGKILL'), 20_000);
  await dockerdExit;
  clearTimeout(timer);
});
const env = { ...process.env, DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: join(work, 'docker-config') };
const docker = (args: string[], input?: string) => exec('docker', args, { env, timeoutMs: 300_000, ...(input !== undefined ? { input } : {}) });
const deadline = Date.now() + 60_000;
while ((await docker(['version'])).code !== 0) {
  assert.ok(Date.now() < deadline, `dockerd did not start: ${dockerdLog}`);
  await new Promise((r) => setTimeout(r, 300));
}

// /etc/docker/certs.d/HOST:PORT/ca.crt, removed afterwards with every directory the test created.
const certsD = '/etc/docker/certs.d';
const created: string[] = [];
for (const dir of ['/etc/docker', certsD, join(certsD, registryHost), join(certsD, tokenHost)]) {
  if (!(await stat(dir).catch(() => undefined))) {
    await mkdir(dir);
    created.push(dir);
  }
}
const removeCertsD = () => {
  rmSync(join(certsD, registryHost, 'ca.crt'), { force: true });
  rmSync(join(certsD, tokenHost, 'ca.crt'), { force: true });
  for (const dir of [...created].reverse()) rmSync(dir, { recursive: true, force: true });
};
cleanups.push(async () => removeCertsD());
onExit(removeCertsD);

test('without ca.crt docker refuses the certificate (the address is not treated as insecure)', async () => {
  const r = await docker(['login', registryHost, '-u', 'alice', '--password-stdin'], 'alice-pw');
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /x509|certificate/);
});

test('docker login, push and pull with only ca.crt in certs.d; a wrong password fails login', async () => {
  await copyFile(join(certs, 'ca.crt'), join(certsD, registryHost, 'ca.crt'));
  const wrong = await docker(['login', registryHost, '-u', 'alice', '--password-stdin'], 'nope');
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /401|unauthorized|incorrect/i);
  const login = await docker(['login', registryHost, '-u', 'alice', '--password-stdin'], 'alice-pw');
  assert.equal(login.code, 0, login.stderr);

  const rootfs = join(work, 'rootfs');
  await mkdir(rootfs);
  await writeFile(join(rootfs, 'payload.bin'), randomBytes(3 * 1024 * 1024));
  const tar = join(work, 'rootfs.tar');
  assert.equal((await exec('tar', ['-C', rootfs, '-cf', tar, '.'])).code, 0);
  const image = `${registryHost}/alice/app:v1`;
  assert.equal((await docker(['import', tar, image])).code, 0);
  const push = await docker(['push', image]);
  assert.equal(push.code, 0, push.stderr);
  const pushed = /digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)?.[1];
  assert.ok(pushed, push.stdout);
  assert.equal((await docker(['rmi', image])).code, 0);
  const pull = await docker(['pull', image]);
  assert.equal(pull.code, 0, pull.stderr);
  assert.equal(/Digest: (sha256:[0-9a-f]{64})/.exec(pull.stdout)?.[1], pushed);
  assert.ok(gw.entries().some((e) => e.user === 'alice' && e.method === 'PUT' && e.status === 201), 'the push went through the gateway');
});

test('token mode: docker login stores a refresh token; push, pull, logout, login, and a second push on the refresh token alone', async () => {
  await copyFile(join(certs, 'ca.crt'), join(certsD, tokenHost, 'ca.crt'));
  assert.notEqual((await docker(['login', tokenHost, '-u', 'alice', '--password-stdin'], 'nope')).code, 0, 'wrong password');
  const login = await docker(['login', tokenHost, '-u', 'alice', '--password-stdin'], 'alice-pw');
  assert.equal(login.code, 0, login.stderr);
  const stored = JSON.parse(await readFile(join(work, 'docker-config', 'config.json'), 'utf8')).auths[tokenHost];
  assert.ok(stored.identitytoken, 'docker keeps the refresh token');
  assert.ok(!Buffer.from(stored.auth ?? '', 'base64').toString().includes('alice-pw'), 'and not the password');

  const rootfs = join(work, 'rootfs-token');
  await mkdir(rootfs);
  await writeFile(join(rootfs, 'payload.bin'), randomBytes(2 * 1024 * 1024));
  const tar = join(work, 'rootfs-token.tar');
  assert.equal((await exec('tar', ['-C', rootfs, '-cf', tar, '.'])).code, 0);
  const image = `${tokenHost}/alice/app:v1`;
  assert.equal((await docker(['import', tar, image])).code, 0);
  const push = await docker(['push', image]);
  assert.equal(push.code, 0, push.stderr);
  assert.equal((await docker(['rmi', image])).code, 0);
  const pull = await docker(['pull', image]);
  assert.equal(pull.code, 0, pull.stderr);

  assert.equal((await docker(['logout', tokenHost])).code, 0);
  assert.equal((await docker(['login', tokenHost, '-u', 'alice', '--password-stdin'], 'alice-pw')).code, 0);
  const before = tokenGw.entries().length;
  const image2 = `${tokenHost}/alice/app:v2`;
  assert.equal((await docker(['tag', image, image2])).code, 0);
  const again = await docker(['push', image2]);
  assert.equal(again.code, 0, again.stderr);
  const tokenCalls = tokenGw.entries().slice(before).filter((e) => typeof e.path === 'string' && (e.path as string).startsWith('/token'));
  assert.ok(tokenCalls.length > 0 && tokenCalls.every((e) => e.method === 'POST' && e.status === 200), `the push used the refresh grant: ${JSON.stringify(tokenCalls)}`);
  assert.ok(tokenGw.entries().slice(before).some((e) => e.user === 'alice' && e.method === 'PUT' && e.status === 201));
});
