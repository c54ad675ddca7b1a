// The gateway→registry hop defended: a docker-registry (Debian's) serving
// TLS with its own CA, requiring a client certificate (http.tls.clientcas)
// and a Basic credential (auth.htpasswd). The gateway verifies it with
// upstream.ca, presents upstream.cert/key and adds upstream.username and
// passwordFile's credential to every request, whatever the client sent;
// a client that reaches the registry directly gets nothing.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exec, gateway as gatewayCli } from '../helpers/exec.js';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { request } from '../helpers/https.js';
import { freePort, startRegistry } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';
import { validateConfig } from '../../src/config/config.js';
import { GatewayError } from '../../src/errors.js';

const work = await tempDir();
const ok = async (p: Promise<{ code: number | null; stderr: string }>) => assert.equal((await p).code, 0);
// The gateway's certificates, and the registry's own CA and certificate (another CA).
const certs = join(work, 'certs');
const upstreamCerts = join(work, 'upstream-certs');
await ok(gatewayCli(['certs', 'init', '--dir', certs, '--host', 'localhost', '--host', '127.0.0.1']));
await ok(gatewayCli(['certs', 'init', '--dir', upstreamCerts, '--host', '127.0.0.1']));
const ca = await readFile(join(certs, 'ca.crt'), 'utf8');
// The gateway's client certificate, signed by the registry's CA for clientAuth.
const clientKey = join(work, 'client.key');
const clientCert = join(work, 'client.crt');
await writeFile(join(work, 'client.ext'), 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n');
await ok(exec('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', clientKey,
  '-subj', '/CN=registry-gateway', '-out', join(work, 'client.csr')]));
await ok(exec('openssl', ['x509', '-req', '-in', join(work, 'client.csr'), '-CA', join(upstreamCerts, 'ca.crt'), '-CAkey', join(upstreamCerts, 'ca.key'),
  '-set_serial', '0x1234', '-days', '2', '-extfile', join(work, 'client.ext'), '-out', clientCert]));
// The registry's one user: the gateway.
const registryUsers = join(work, 'registry-htpasswd');
await ok(gatewayCli(['users', 'add', 'gateway', '--password-stdin', '--file', registryUsers, '--cost', '4'], { input: 'upstream-pw' }));
const passwordFile = join(work, 'upstream-password');
await writeFile(passwordFile, 'upstream-pw\n', { mode: 0o600 });

const port = await freePort();
const registryConfig = join(work, 'registry.json');
await writeFile(registryConfig, JSON.stringify({
  version: 0.1,
  log: { level: 'warn', accesslog: { disabled: true } },
  storage: { filesystem: { rootdirectory: join(work, 'storage') }, delete: { enabled: true } },
  http: {
    addr: `127.0.0.1:${port}`,
    tls: { certificate: join(upstreamCerts, 'server.crt'), key: join(upstreamCerts, 'server.key'), clientcas: [join(upstreamCerts, 'ca.crt')] },
  },
  auth: { htpasswd: { realm: 'registry', path: registryUsers } },
}));
const registry = await startRegistry(work, { storage: join(work, 'storage'), port, configPath: registryConfig });
const upstreamUrl = `https://127.0.0.1:${port}`;
const stops: (() => Promise<unknown>)[] = [() => registry.stop()];
after(async () => {
  for (const stop of stops.reverse()) await stop();
});

const gatewayWith = async (upstream: Record<string, unknown>): Promise<GatewayProcess> => {
  const gw = await startGateway(work, {
    upstream,
    tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') },
    // auth none: the gateway would forward the client's own Authorization; the upstream credential replaces it.
    auth: { mode: 'none' },
    access: [{ account: '', name: '**', actions: ['pull', 'push'] }],
  });
  stops.push(() => gw.stop());
  return gw;
};
const full = { url: upstreamUrl, ca: join(upstreamCerts, 'ca.crt'), cert: clientCert, key: clientKey, username: 'gateway', passwordFile };
const gw = await gatewayWith(full);

/** A request straight to the registry, as a pod past the gateway would make it. */
function direct(opts: { cert?: boolean; user?: string } = {}): Promise<number | string> {
  return new Promise((resolve) => {
    const req = https.request(`${upstreamUrl}/v2/`, {
      ca: String(registryCa), agent: false,
      ...(opts.cert ? { cert: String(clientPem), key: String(clientKeyPem) } : {}),
      headers: opts.user ? { authorization: `Basic ${Buffer.from(opts.user).toString('base64')}` } : {},
    }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.end();
  });
}
const registryCa = await readFile(join(upstreamCerts, 'ca.crt'));
const clientPem = await readFile(clientCert);
const clientKeyPem = await readFile(clientKey);

test('through the gateway: verified TLS, its client certificate and its credential; pulls and pushes work, readiness too', async () => {
  assert.equal((await request(`${gw.url}/v2/`, { ca })).status, 200);
  assert.equal((await request(`${gw.url}/readyz`, { ca })).status, 200);
  const start = await request(`${gw.url}/v2/team/app/blobs/uploads/`, { ca, method: 'POST' });
  assert.equal(start.status, 202, start.body.toString());
  assert.match(String(start.headers.location), new RegExp(`^https://127\\.0\\.0\\.1:${gw.port}/v2/team/app/blobs/uploads/`), 'Location points at the gateway');
  assert.equal((await request(`${gw.url}/v2/team/app/manifests/latest`, { ca })).status, 404, 'the registry\'s own answer');
  assert.equal((await request(`${gw.url}/v2/_catalog`, { ca })).status, 200, 'the gateway\'s own requests carry the credential too');
});

test('a client\'s own Authorization never reaches the registry: the gateway\'s credential replaces it', async () => {
  const r = await request(`${gw.url}/v2/`, { ca, user: 'mallory:guess' });
  assert.equal(r.status, 200, 'the registry saw the gateway\'s credential, not mallory\'s (which it would refuse)');
});

test('straight to the registry: no client certificate, no TLS; a certificate without the credential, 401', async () => {
  assert.notEqual(await direct(), 200);
  assert.equal(typeof await direct(), 'string', 'the handshake fails without a client certificate');
  assert.equal(await direct({ cert: true }), 401);
  assert.equal(await direct({ cert: true, user: 'gateway:upstream-pw' }), 200, 'the control: with both, the registry answers');
});

test('without upstream.ca the registry is not trusted: not ready, 503; without the credential: the registry\'s 401', async () => {
  const { ca: _ca, ...noCa } = full;
  const untrusting = await gatewayWith(noCa);
  const ready = await request(`${untrusting.url}/readyz`, { ca });
  assert.equal(ready.status, 503);
  assert.match(ready.body.toString(), /upstream registry unreachable/);
  assert.equal((await request(`${untrusting.url}/v2/team/app/manifests/latest`, { ca })).status, 503);
  const { username: _u, passwordFile: _p, ...noCredential } = full;
  const anonymous = await gatewayWith(noCredential);
  assert.equal((await request(`${anonymous.url}/v2/team/app/manifests/latest`, { ca })).status, 401);
});

test('upstream settings are checked: pairs, TLS-only keys, unreadable files stop the start', async () => {
  const refused = (upstream: unknown, pattern: RegExp) => assert.throws(() => validateConfig({ upstream }, {}, 'g.yaml'),
    (e: unknown) => e instanceof GatewayError && pattern.test(e.message), JSON.stringify(upstream));
  refused({ url: upstreamUrl, cert: 'c.crt' }, /upstream\.key: a client certificate needs both upstream\.cert and upstream\.key/);
  refused({ url: upstreamUrl, username: 'u' }, /upstream\.passwordFile: the upstream credential needs both/);
  refused({ url: 'http://r:5000', ca: 'ca.crt' }, /upstream\.ca: only used with TLS: make upstream\.url https:/);
  refused({ url: 'ftp://r' }, /upstream\.url: expected an http or https URL/);
  refused({ url: upstreamUrl, pasword: 'x' }, /unknown key\(s\) 'pasword'/);
  assert.equal(validateConfig({ upstream: full }, { upstream: 'https://other:5000' }, 'g.yaml').upstream, 'https://other:5000', '--upstream sets the URL');
  const r = await gatewayCli(['serve', '--config', join(work, 'bad.yaml')], {});
  assert.notEqual(r.code, 0);
  await writeFile(join(work, 'bad.json'), JSON.stringify({
    listen: `127.0.0.1:${await freePort()}`, tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') }, auth: { mode: 'none' },
    upstream: { ...full, ca: join(work, 'missing-ca.crt') },
  }));
  const missing = await gatewayCli(['serve', '--config', join(work, 'bad.json')], {});
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /cannot read upstream\.ca .*missing-ca\.crt: ENOENT; fix upstream\.ca/);
});
