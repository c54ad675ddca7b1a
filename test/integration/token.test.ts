// auth.mode token against a real docker-registry: the token endpoint, the
// Bearer challenges, real clients, and distribution itself trusting the
// gateway as its token issuer.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'smol-toml';
import { exec, gateway as gatewayCli } from '../helpers/exec.js';
import { startGateway } from '../helpers/gateway.js';
import { request } from '../helpers/https.js';
import { buildImage, skopeoPolicy } from '../helpers/oci.js';
import { freePort, startRegistry, type Registry } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';
import { startContainerd } from '../helpers/containerd.js';

const work = await tempDir();
const certs = join(work, 'certs');
const htpasswd = join(work, 'htpasswd');
assert.equal((await gatewayCli(['certs', 'init', '--dir', certs, '--host', 'localhost', '--host', '127.0.0.1'])).code, 0);
for (const [user, pw] of [['alice', 'alice-pw'], ['bob', 'bob-pw'], ['reader', 'reader-pw'], ['gone', 'gone-pw']]) {
  assert.equal((await gatewayCli(['users', 'add', user!, '--password-stdin', '--min-length', '1', '--file', htpasswd, '--cost', '4'], { input: pw })).code, 0);
}
const ca = await readFile(join(certs, 'ca.crt'), 'utf8');
const registry = await startRegistry(work, { storage: join(work, 'storage') });
const port = await freePort();
const service = `127.0.0.1:${port}`;
const gw = await startGateway(work, {
  listen: `127.0.0.1:${port}`,
  upstream: registry.url,
  tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') },
  auth: { mode: 'token', htpasswd, token: { service, signingKey: join(certs, 'token.key') } },
  access: [
    { account: 'alice', name: '**', actions: ['*'] },
    { account: 'reader', name: '**', actions: ['pull'] },
    { account: '*', name: '${account}/**', actions: ['pull', 'push'] },
    { account: '', name: 'public/**', actions: ['pull'] },
  ],
});
const stops: (() => Promise<unknown>)[] = [() => gw.stop(), () => registry.stop()];
after(async () => {
  for (const stop of stops) await stop();
});
const trusted = join(work, 'trusted');
await mkdir(trusted);
await copyFile(join(certs, 'ca.crt'), join(trusted, 'ca.crt'));
const policy = await skopeoPolicy(work);
const skopeo = (args: string[]) => exec('skopeo', ['--policy', policy, ...args], { env: { ...process.env, HOME: work, XDG_RUNTIME_DIR: work }, timeoutMs: 300_000 });
const layout = await buildImage(join(work, 'img'), 'v1', [2 * 1024 * 1024, 1024 * 1024]);
const basic = (user: string) => ({ authorization: `Basic ${Buffer.from(user).toString('base64')}` });
const ACCEPT = 'application/vnd.oci.image.manifest.v1+json';

async function token(user: string | undefined, ...scopes: string[]): Promise<string> {
  const q = new URLSearchParams({ service });
  scopes.forEach((sc) => q.append('scope', sc));
  const r = await request(`${gw.url}/token?${q}`, { ca, headers: user ? basic(user) : {} });
  assert.equal(r.status, 200, r.body.toString());
  return r.json().token;
}
const bearer = (t: string) => ({ authorization: `Bearer ${t}`, accept: ACCEPT });

test('challenges: absolute realm, service, scope when needed', async () => {
  const base = await request(`${gw.url}/v2/`, { ca });
  assert.equal(base.status, 401);
  assert.equal(base.headers['www-authenticate'], `Bearer realm="https://127.0.0.1:${port}/token",service="${service}"`);
  const repo = await request(`${gw.url}/v2/bob/app/manifests/v1`, { ca, method: 'HEAD' });
  assert.equal(repo.headers['www-authenticate'], `Bearer realm="https://127.0.0.1:${port}/token",service="${service}",scope="repository:bob/app:pull"`);
  const push = await request(`${gw.url}/v2/bob/app/blobs/uploads/`, { ca, method: 'POST' });
  assert.match(push.headers['www-authenticate']!, /scope="repository:bob\/app:pull,push"/);
  assert.equal((await request(`${gw.url}/v2/`, { ca, headers: bearer(await token(undefined)) })).status, 200, 'any valid token passes /v2/');
});

test('GET /token: offline_token gives a refresh token; wrong credentials 401; account must match; expires_in >= 60', async () => {
  const q = `service=${service}&scope=repository:bob/app:pull,push&account=bob&client_id=docker&offline_token=true`;
  const r = await request(`${gw.url}/token?${q}`, { ca, headers: basic('bob:bob-pw') });
  assert.equal(r.status, 200);
  const body = r.json();
  assert.equal(body.token, body.access_token);
  assert.ok(body.expires_in >= 60);
  assert.ok(!Number.isNaN(Date.parse(body.issued_at)));
  assert.ok(body.refresh_token);
  assert.equal(r.headers['cache-control'], 'no-store');
  assert.equal((await request(`${gw.url}/token?${q}`, { ca, headers: basic('bob:nope') })).status, 401);
  assert.equal((await request(`${gw.url}/token?service=${service}&account=alice`, { ca, headers: basic('bob:bob-pw') })).status, 400);
  assert.equal((await request(`${gw.url}/token?service=elsewhere:1`, { ca, headers: basic('bob:bob-pw') })).status, 400);
  const noRefresh = await request(`${gw.url}/token?service=${service}`, { ca, headers: basic('bob:bob-pw') });
  assert.equal(noRefresh.json().refresh_token, undefined);
});

test('GET /token: a scope value holding several space-separated scopes grants each; an unparsable scope is 400 invalid_scope', async () => {
  // What reggie (the OCI conformance suite's client) sends: the challenge's scope, space-joined, as one value.
  const joined = await token('bob:bob-pw', 'repository:bob/target:pull,push repository:bob/app:pull');
  const claims = JSON.parse(Buffer.from(joined.split('.')[1]!, 'base64url').toString());
  assert.deepEqual(claims.access, [
    { type: 'repository', name: 'bob/target', actions: ['pull', 'push'] }, { type: 'repository', name: 'bob/app', actions: ['pull'] },
  ]);
  for (const bad of ['repository:Bob/App:pull', 'repository:bob/app:pull repository:bob/app:fly', 'nonsense']) {
    const q = new URLSearchParams({ service, scope: bad });
    const r = await request(`${gw.url}/token?${q}`, { ca, headers: basic('bob:bob-pw') });
    assert.equal(r.status, 400, bad);
    assert.equal(r.json().error, 'invalid_scope');
    assert.match(r.json().errors[0].message, /does not parse: expected repository:NAME:ACTIONS/);
  }
  const form = new URLSearchParams({ grant_type: 'password', username: 'bob', password: 'bob-pw', service, client_id: 'x', scope: 'repository:bob/app:pull bad' });
  const post = await request(`${gw.url}/token`, { ca, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() });
  assert.equal(post.status, 400);
  assert.equal(post.json().error, 'invalid_scope');
});

test('POST /token: password and refresh_token grants; a removed user or changed password ends refresh tokens', async () => {
  const form = (fields: Record<string, string>) => ({ ca, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });
  const pw = await request(`${gw.url}/token`, form({ grant_type: 'password', username: 'gone', password: 'gone-pw', service, client_id: 'containerd-client', scope: 'repository:gone/a:pull repository:gone/b:push', access_type: 'offline' }));
  assert.equal(pw.status, 200, pw.body.toString());
  assert.equal(pw.json().scope, 'repository:gone/a:pull repository:gone/b:push');
  const refresh = pw.json().refresh_token;
  const again = await request(`${gw.url}/token`, form({ grant_type: 'refresh_token', refresh_token: refresh, service, client_id: 'docker', scope: 'repository:gone/a:pull' }));
  assert.equal(again.status, 200);
  assert.equal((await request(`${gw.url}/token`, form({ grant_type: 'refresh_token', refresh_token: pw.json().access_token, service, client_id: 'x' }))).status, 401, 'an access token is no refresh token');
  assert.equal((await request(`${gw.url}/token`, form({ grant_type: 'password', username: 'gone', password: 'x', service, client_id: 'x' }))).status, 401);
  assert.equal((await request(`${gw.url}/token`, form({ grant_type: 'client_credentials', service, client_id: 'x' }))).json().error, 'unsupported_grant_type');
  assert.equal((await gatewayCli(['users', 'passwd', 'gone', '--password-stdin', '--min-length', '1', '--file', htpasswd, '--cost', '4'], { input: 'new-pw' })).code, 0);
  const deadline = Date.now() + 10_000;
  let status = 200;
  while (status === 200 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    status = (await request(`${gw.url}/token`, form({ grant_type: 'refresh_token', refresh_token: refresh, service, client_id: 'docker' }))).status;
  }
  assert.equal(status, 401, 'password changed: refresh refused');
});

test('a pull-only user gets insufficient_scope on push; invalid tokens get invalid_token', async () => {
  const t = await token('reader:reader-pw', 'repository:bob/app:pull,push');
  const claims = JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString());
  assert.deepEqual(claims.access, [{ type: 'repository', name: 'bob/app', actions: ['pull'] }]);
  const r = await request(`${gw.url}/v2/bob/app/blobs/uploads/`, { ca, method: 'POST', headers: bearer(t) });
  assert.equal(r.status, 401);
  assert.match(r.headers['www-authenticate']!, /error="insufficient_scope"/);
  const bad = await request(`${gw.url}/v2/bob/app/tags/list`, { ca, headers: bearer(`${t.slice(0, -4)}AAAA`) });
  assert.equal(bad.status, 401);
  assert.match(bad.headers['www-authenticate']!, /error="invalid_token"/);
});

test('skopeo pushes and pulls with --creds through the token flow; anonymous pulls only public/**', async () => {
  for (const repo of ['bob/app', 'public/base']) {
    const user = repo === 'bob/app' ? 'bob:bob-pw' : 'alice:alice-pw';
    const push = await skopeo(['copy', '--dest-cert-dir', trusted, '--dest-creds', user, `oci:${layout}:v1`, `docker://${service}/${repo}:v1`]);
    assert.equal(push.code, 0, push.stderr);
  }
  const pull = await skopeo(['copy', '--src-cert-dir', trusted, '--src-creds', 'bob:bob-pw', `docker://${service}/bob/app:v1`, `oci:${join(work, 'pulled')}:v1`]);
  assert.equal(pull.code, 0, pull.stderr);
  const anon = await skopeo(['inspect', '--cert-dir', trusted, '--no-creds', `docker://${service}/public/base:v1`]);
  assert.equal(anon.code, 0, anon.stderr);
  const anonPrivate = await skopeo(['inspect', '--cert-dir', trusted, '--no-creds', `docker://${service}/bob/app:v1`]);
  assert.notEqual(anonPrivate.code, 0);
  const readerPush = await skopeo(['copy', '--dest-cert-dir', trusted, '--dest-creds', 'reader:reader-pw', `oci:${layout}:v1`, `docker://${service}/bob/app:v2`]);
  assert.notEqual(readerPush.code, 0, 'pull-only user cannot push');
  await gw.waitFor((e) => e.path === '/token' || (typeof e.path === 'string' && (e.path as string).startsWith('/token?')));
});

test('cross-repository mount: mounted with pull on the source, a plain upload without', async () => {
  const manifest = JSON.parse((await request(`${gw.url}/v2/bob/app/manifests/v1`, { ca, headers: bearer(await token('bob:bob-pw', 'repository:bob/app:pull')) })).body.toString());
  const digest = manifest.layers[0].digest;
  const mount = (target: string, from: string, t: string) => request(`${gw.url}/v2/${target}/blobs/uploads/?mount=${digest}&from=${from}`, { ca, method: 'POST', headers: bearer(t) });
  // bob may pull bob/app: the token carries it, the blob is mounted.
  assert.equal((await mount('bob/copy', 'bob/app', await token('bob:bob-pw', 'repository:bob/copy:pull,push', 'repository:bob/app:pull'))).status, 201);
  // public/base holds the same blob, but the "" rule is for anonymous users
  // only: bob's token gets no pull there, so a plain upload starts instead.
  const t = await token('bob:bob-pw', 'repository:bob/copy2:pull,push', 'repository:public/base:pull');
  assert.deepEqual(JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()).access.map((a: { name: string }) => a.name), ['bob/copy2']);
  assert.equal((await mount('bob/copy2', 'public/base', t)).status, 202);
  assert.equal((await request(`${gw.url}/v2/bob/copy2/blobs/${digest}`, { ca, method: 'HEAD', headers: bearer(t) })).status, 404, 'nothing leaked into bob/copy2');
});

test('containerd: ctr images pull --hosts-dir --user (POST grant first)', async () => {
  const root = join(work, 'containerd');
  const hostDir = join(root, 'hosts', service);
  await mkdir(hostDir, { recursive: true });
  await copyFile(join(certs, 'ca.crt'), join(hostDir, 'ca.crt'));
  await writeFile(join(hostDir, 'hosts.toml'), stringify({ server: `https://${service}`, host: { [`https://${service}`]: { capabilities: ['pull', 'resolve'], ca: join(hostDir, 'ca.crt') } } }));
  const containerd = await startContainerd(root);
  try {
    const before = gw.entries().length;
    const pull = await containerd.ctr(['images', 'pull', '--hosts-dir', join(root, 'hosts'), '--user', 'bob:bob-pw', `${service}/bob/app:v1`]);
    assert.equal(pull.code, 0, pull.stderr);
    await gw.waitFor((e) => e.method === 'POST' && e.path === '/token' && e.status === 200, before); // containerd used the POST grant
    const anon = await containerd.ctr(['images', 'pull', '--hosts-dir', join(root, 'hosts'), `${service}/public/base:v1`]);
    assert.equal(anon.code, 0, anon.stderr);
  } finally {
    await containerd.stop();
  }
});

test('interop: a docker-registry with auth.token trusting the gateway CA accepts gateway tokens (skopeo push and pull)', async () => {
  assert.equal((await gatewayCli(['certs', 'issue', '--dir', certs, '--name', 'direct', '--host', '127.0.0.1'])).code, 0);
  const directPort = await freePort();
  const configPath = join(work, 'direct.yml');
  await writeFile(configPath, JSON.stringify({
    version: 0.1,
    log: { level: 'warn', accesslog: { disabled: true } },
    storage: { filesystem: { rootdirectory: join(work, 'direct-storage') } },
    http: { addr: `127.0.0.1:${directPort}`, tls: { certificate: join(certs, 'direct.crt'), key: join(certs, 'direct.key') } },
    auth: { token: { realm: `https://127.0.0.1:${port}/token`, service, issuer: 'registry-gateway', rootcertbundle: join(certs, 'ca.crt') } },
  }));
  const direct: Registry = await startRegistry(work, { storage: join(work, 'direct-storage'), port: directPort, configPath });
  stops.unshift(() => direct.stop());
  const target = `docker://127.0.0.1:${directPort}/bob/direct:v1`;
  const push = await skopeo(['copy', '--dest-cert-dir', trusted, '--dest-creds', 'bob:bob-pw', `oci:${layout}:v1`, target]);
  assert.equal(push.code, 0, push.stderr + direct.log());
  const pull = await skopeo(['inspect', '--cert-dir', trusted, '--creds', 'bob:bob-pw', target]);
  assert.equal(pull.code, 0, pull.stderr);
  const denied = await skopeo(['inspect', '--cert-dir', trusted, '--creds', 'bob:bob-pw', `docker://127.0.0.1:${directPort}/alice/x:v1`]);
  assert.notEqual(denied.code, 0, 'the registry enforces what the gateway granted');
  assert.match(denied.stderr, /denied|unauthorized|insufficient/i);
});

test('gateway token issue honours the rules; rotate + SIGHUP: new kid, old tokens still verify', async () => {
  const config = join(work, `gateway-${port}.yaml`);
  const issued = await gatewayCli(['token', 'issue', '--config', config, '--user', 'bob', '--scope', 'repository:bob/app:pull,push', '--scope', 'repository:alice/x:pull', '--ttl', '10m']);
  assert.equal(issued.code, 0, issued.stderr);
  assert.match(issued.stderr, /repository:alice\/x: the access rules grant 'bob' nothing/);
  const old = issued.stdout.trim();
  const claims = JSON.parse(Buffer.from(old.split('.')[1]!, 'base64url').toString());
  assert.deepEqual(claims.access, [{ type: 'repository', name: 'bob/app', actions: ['pull', 'push'] }]);
  assert.equal(claims.exp - claims.iat, 600);
  assert.equal((await request(`${gw.url}/v2/bob/app/tags/list`, { ca, headers: bearer(old) })).status, 200);
  for (const [args, message] of [[['--user', 'nobody'], /no user 'nobody'/], [['--user', 'bob', '--scope', 'repository:a/*:pull'], /invalid --scope/], [['--user', 'bob', '--ttl', '2y'], /--ttl/]] as const) {
    const r = await gatewayCli(['token', 'issue', '--config', config, ...args]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, message);
  }

  const oldKid = JSON.parse(Buffer.from(old.split('.')[0]!, 'base64url').toString()).kid;
  // Minted before the rotation and never shown to the gateway, so no cache can vouch for it.
  const unseen = (await gatewayCli(['token', 'issue', '--config', config, '--user', 'bob', '--scope', 'repository:bob/app:pull'])).stdout.trim();
  const rotate = await gatewayCli(['token', 'rotate', '--config', config]);
  assert.equal(rotate.code, 0, rotate.stderr);
  gw.signal('SIGHUP');
  const deadline = Date.now() + 5000;
  let fresh = await token('bob:bob-pw', 'repository:bob/app:pull');
  while (JSON.parse(Buffer.from(fresh.split('.')[0]!, 'base64url').toString()).kid === oldKid) {
    assert.ok(Date.now() < deadline, 'still signing with the old key');
    await new Promise((r) => setTimeout(r, 100));
    fresh = await token('bob:bob-pw', 'repository:bob/app:pull');
  }
  assert.equal((await request(`${gw.url}/v2/bob/app/tags/list`, { ca, headers: bearer(fresh) })).status, 200);
  assert.equal((await request(`${gw.url}/v2/bob/app/tags/list`, { ca, headers: bearer(unseen) })).status, 200, 'a token of the retired key still verifies');
  assert.equal((await request(`${gw.url}/token/jwks.json`, { ca })).json().keys.length, 2);
  assert.equal((await request(`${gw.url}/.well-known/jwks.json`, { ca })).json().keys.length, 2);
});
