// docker login, push and pull through the gateway, trusting only ca.crt in
// /etc/docker/certs.d/HOST:PORT/. The gateway and its upstream run in a test
// network namespace: on loopback Docker would skip the certificate check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { guardDirectory, importImage, startDockerd } from '../helpers/docker.js';
import { startGateway } from '../helpers/gateway.js';
import { namespacedStage } from '../helpers/testHost.js';
import { cleanupList } from '../helpers/cleanup.js';

const cleanups = cleanupList();
const { work, host: testHost, certs, htpasswd } = await namespacedStage(cleanups);
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

// Everything added under /etc/docker (certs.d entries, dockerd's key.json) goes afterwards.
await guardDirectory('/etc/docker', cleanups);
const dockerd = await startDockerd(work, cleanups);
const { docker, configDir } = dockerd;
const certsD = '/etc/docker/certs.d';
await mkdir(join(certsD, registryHost), { recursive: true });
await mkdir(join(certsD, tokenHost), { recursive: true });

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

  const image = `${registryHost}/alice/app:v1`;
  await importImage(dockerd, work, image, 3 * 1024 * 1024);
  const push = await docker(['push', image]);
  assert.equal(push.code, 0, push.stderr);
  const pushed = /digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)?.[1];
  assert.ok(pushed, push.stdout);
  assert.equal((await docker(['rmi', image])).code, 0);
  const pull = await docker(['pull', image]);
  assert.equal(pull.code, 0, pull.stderr);
  assert.equal(/Digest: (sha256:[0-9a-f]{64})/.exec(pull.stdout)?.[1], pushed);
  await gw.waitFor((e) => e.user === 'alice' && e.method === 'PUT' && e.status === 201); // the push went through the gateway
});

test('token mode: docker login stores a refresh token; push, pull, logout, login, and a second push on the refresh token alone', async () => {
  await copyFile(join(certs, 'ca.crt'), join(certsD, tokenHost, 'ca.crt'));
  assert.notEqual((await docker(['login', tokenHost, '-u', 'alice', '--password-stdin'], 'nope')).code, 0, 'wrong password');
  const login = await docker(['login', tokenHost, '-u', 'alice', '--password-stdin'], 'alice-pw');
  assert.equal(login.code, 0, login.stderr);
  const stored = JSON.parse(await readFile(join(configDir, 'config.json'), 'utf8')).auths[tokenHost];
  assert.ok(stored.identitytoken, 'docker keeps the refresh token');
  assert.ok(!Buffer.from(stored.auth ?? '', 'base64').toString().includes('alice-pw'), 'and not the password');

  const image = `${tokenHost}/alice/app:v1`;
  await importImage(dockerd, work, image);
  const push = await docker(['push', image]);
  assert.equal(push.code, 0, push.stderr);
  assert.equal((await docker(['rmi', image])).code, 0);
  const pull = await docker(['pull', image]);
  assert.equal(pull.code, 0, pull.stderr);

  assert.equal((await docker(['logout', tokenHost])).code, 0);
  const loginFrom = tokenGw.entries().length;
  assert.equal((await docker(['login', tokenHost, '-u', 'alice', '--password-stdin'], 'alice-pw')).code, 0);
  // Log lines cross a pipe and can arrive after the client is done: wait for
  // the login's own token request so that it is not counted as the push's.
  await tokenGw.waitFor((e) => e.method === 'GET' && String(e.path).startsWith('/token?') && e.status === 200, loginFrom);
  const before = tokenGw.entries().length;
  const image2 = `${tokenHost}/alice/app:v2`;
  assert.equal((await docker(['tag', image, image2])).code, 0);
  const again = await docker(['push', image2]);
  assert.equal(again.code, 0, again.stderr);
  await tokenGw.waitFor((e) => e.user === 'alice' && e.method === 'PUT' && e.status === 201 && String(e.path).includes('/manifests/v2'), before);
  const tokenCalls = tokenGw.entries().slice(before).filter((e) => typeof e.path === 'string' && (e.path as string).startsWith('/token'));
  assert.ok(tokenCalls.length > 0 && tokenCalls.every((e) => e.method === 'POST' && e.status === 200), `the push used the refresh grant: ${JSON.stringify(tokenCalls)}`);
});
