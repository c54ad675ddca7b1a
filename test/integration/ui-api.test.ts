// The web UI's API (/ui/api/*) against real gateways and real docker-registry
// instances, with images pushed by skopeo: logins through the same throttles
// as Basic, what each viewer may see (the access rules, as for docker),
// search and pages past 1,000, tags and manifests (a two-platform OCI index
// included), deletes (allowed, refused, forged, and with the upstream's
// delete off), logout and password changes ending sessions, the token-mode
// pull secret working with skopeo for pulls only, and the security headers.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import https from 'node:https';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { exec, gateway as gatewayCli, ROOT } from '../helpers/exec.js';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { request, type Reply } from '../helpers/https.js';
import { buildImage, skopeoPolicy } from '../helpers/oci.js';
import { buildMultiPlatformIndex, pushAll, registrySizes } from '../helpers/multiarch.js';
import { freePort, startRegistry } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';

const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const ACCEPT = [
  'application/vnd.oci.image.index.v1+json', OCI_MANIFEST,
  'application/vnd.docker.distribution.manifest.list.v2+json', 'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

const work = await tempDir('gw-ui-api-');
const certs = join(work, 'certs');
const htpasswd = join(work, 'htpasswd');
assert.equal((await gatewayCli(['certs', 'init', '--dir', certs, '--host', 'localhost', '--host', '127.0.0.1'])).code, 0);
const addUser = async (user: string, pw: string, verb = 'add') =>
  assert.equal((await gatewayCli(['users', verb, user, '--password-stdin', '--min-length', '1', '--file', htpasswd, '--cost', '4'], { input: pw })).code, 0);
for (const user of ['admin', 'alice', 'bob', 'carol', 'dave', 'erin']) await addUser(user, `${user}-pw`);
const ca = await readFile(join(certs, 'ca.crt'), 'utf8');
const tls = { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') };
const access = [
  { account: 'admin', name: '**', actions: ['*'] },
  { account: 'alice', name: 'alice/**', actions: ['pull', 'push', 'delete'] },
  { account: '*', name: 'public/**', actions: ['pull'] },
  { account: '*', name: 'many/**', actions: ['pull'] },
  { account: '', name: 'public/**', actions: ['pull'] },
];

// The main upstream deletes; the second has storage.delete off.
const registry = await startRegistry(work, { storage: join(work, 'storage') });
const noDeletePort = await freePort();
const noDeleteConfig = join(work, 'registry-nodelete.json');
await writeFile(noDeleteConfig, JSON.stringify({
  version: 0.1, log: { level: 'warn', accesslog: { disabled: true } },
  storage: { filesystem: { rootdirectory: join(work, 'storage-nodelete') }, delete: { enabled: false } },
  http: { addr: `127.0.0.1:${noDeletePort}` },
}));
const noDelete = await startRegistry(work, { storage: join(work, 'storage-nodelete'), port: noDeletePort, configPath: noDeleteConfig });
const noDeleteUrl = `http://127.0.0.1:${noDeletePort}`;

const gw = await startGateway(work, { upstream: registry.url, tls, auth: { mode: 'htpasswd', htpasswd }, access });
const tokenPort = await freePort();
const service = `127.0.0.1:${tokenPort}`;
const tokenGw = await startGateway(work, {
  listen: `127.0.0.1:${tokenPort}`, upstream: noDeleteUrl, tls,
  auth: { mode: 'token', htpasswd, token: { service, signingKey: join(certs, 'token.key') } }, access,
});
const noneGw = await startGateway(work, { upstream: registry.url, tls, auth: { mode: 'none' }, access });
after(async () => {
  for (const stop of [() => gw.stop(), () => tokenGw.stop(), () => noneGw.stop(), () => registry.stop(), () => noDelete.stop()]) await stop();
});

// Images, pushed by skopeo straight to the upstreams (the gateway is what is tested, not the pushes).
const policy = await skopeoPolicy(work);
const skopeoEnv = { ...process.env, HOME: work, XDG_RUNTIME_DIR: work };
const skopeo = (args: string[]) => exec('skopeo', ['--policy', policy, ...args], { env: skopeoEnv, timeoutMs: 300_000 });
const v1 = await buildImage(join(work, 'img1'), 'v1', [4096]);
const v2 = await buildImage(join(work, 'img2'), 'v2', [2048, 1024]);
const pushes: [string, string, string][] = [
  [v1, 'v1', 'alice/app:v1'], [v2, 'v2', 'alice/app:v2'], [v1, 'v1', 'public/base:v1'], [v1, 'v1', 'private/secret:v1'],
  [v2, 'v2', 'alice/gone:v2'],
];
for (const [layout, tag, dest] of pushes) {
  for (const base of [registry.url, noDeleteUrl]) {
    const r = await skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:${tag}`, `docker://${new URL(base).host}/${dest}`]);
    assert.equal(r.code, 0, r.stderr);
  }
}
const multi = await buildMultiPlatformIndex(join(work, 'multi'), 'v1');
await pushAll(multi.layout, 'v1', `${new URL(registry.url).host}/alice/multi:v1`, { policy, home: work });

/** What the upstream itself says of a manifest: its digest, bytes and parsed body. */
async function upstreamManifest(base: string, name: string, ref: string) {
  const r = await fetch(`${base}/v2/${name}/manifests/${ref}`, { headers: { accept: ACCEPT } });
  const bytes = Buffer.from(await r.arrayBuffer());
  return { status: r.status, digest: r.headers.get('docker-content-digest')!, bytes, json: r.status === 200 ? JSON.parse(bytes.toString()) : undefined };
}

// 1,100 more repositories, cheaply: public/base's blobs mounted into each and its manifest put there.
const base = await upstreamManifest(registry.url, 'public/base', 'v1');
const blobs = [base.json.config.digest, ...base.json.layers.map((l: { digest: string }) => l.digest)] as string[];
const MANY = 1100;
const manyNames = Array.from({ length: MANY }, (_, i) => `many/r-${String(i).padStart(4, '0')}`);
{
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < manyNames.length) {
      const name = manyNames[next++]!;
      for (const digest of blobs) {
        const m = await fetch(`${registry.url}/v2/${name}/blobs/uploads/?mount=${digest}&from=public/base`, { method: 'POST' });
        await m.arrayBuffer();
        assert.equal(m.status, 201, `mount into ${name}`);
      }
      const put = await fetch(`${registry.url}/v2/${name}/manifests/v1`, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: base.bytes });
      await put.arrayBuffer();
      assert.equal(put.status, 201, `manifest into ${name}`);
    }
  }));
}

// A browser's requests: the cookie it holds, the Origin it sends on POST and DELETE.
interface Client { gw: GatewayProcess; cookie?: string; localAddress?: string }
const originOf = (g: GatewayProcess) => `https://127.0.0.1:${g.port}`;
async function call(c: Client, method: string, path: string, opts: { body?: unknown; origin?: string | null; headers?: Record<string, string> } = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (c.cookie) headers.cookie = c.cookie;
  const origin = opts.origin === undefined ? (method === 'GET' ? null : originOf(c.gw)) : opts.origin;
  if (origin) headers.origin = origin;
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    headers['content-type'] ??= 'application/json';
  }
  const r = await request(`${c.gw.url}${path}`, { ca, method, headers, ...(body !== undefined ? { body } : {}), ...(c.localAddress ? { localAddress: c.localAddress } : {}) });
  // The browser keeps what Set-Cookie says.
  const set = r.headers['set-cookie']?.[0];
  if (set) {
    const [pair] = set.split(';');
    c.cookie = pair!.endsWith('=') ? undefined : pair;
  }
  return r;
}
const get = (c: Client, path: string) => call(c, 'GET', path);
async function loggedIn(g: GatewayProcess, user: string, pw = `${user}-pw`): Promise<Client> {
  const c: Client = { gw: g };
  const r = await call(c, 'POST', '/ui/api/session', { body: { username: user, password: pw } });
  assert.equal(r.status, 200, r.body.toString());
  return c;
}
/** A path sent as it is (URL parsing would resolve %2e%2e before it leaves). */
function raw(path: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', servername: 'localhost', port: gw.port, path, ca, agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, body, json: () => JSON.parse(body.toString()) });
      });
    });
    req.on('error', reject);
    req.end();
  });
}
const errorOf = (r: Reply) => r.json().error as { code: string; message: string; retryAfter?: number };
const basic = (creds: string) => ({ authorization: `Basic ${Buffer.from(creds).toString('base64')}` });

const admin = await loggedIn(gw, 'admin');
const alice = await loggedIn(gw, 'alice');
const bob = await loggedIn(gw, 'bob');
const anonymous: Client = { gw };

test('login: 200 with the user and expiry, and a __Host- cookie that is HttpOnly, Secure, SameSite=Strict, Path=/', async () => {
  const c: Client = { gw };
  const r = await call(c, 'POST', '/ui/api/session', { body: { username: 'alice', password: 'alice-pw' } });
  assert.equal(r.status, 200);
  assert.equal(r.json().user, 'alice');
  const expires = Date.parse(r.json().expiresAt);
  assert.ok(expires > Date.now() + 29 * 60_000 && expires <= Date.now() + 31 * 60_000, 'about 30 minutes');
  const cookies = r.headers['set-cookie']!;
  assert.equal(cookies.length, 1);
  const parts = cookies[0]!.split('; ');
  assert.match(parts[0]!, /^__Host-gateway-session=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  for (const attr of ['HttpOnly', 'Secure', 'SameSite=Strict', 'Path=/']) assert.ok(parts.includes(attr), `${attr} in ${cookies[0]}`);
  assert.ok(!/domain=/i.test(cookies[0]!), 'no Domain: the __Host- prefix forbids it');
  assert.ok(!cookies[0]!.includes('alice-pw') && !Buffer.from(parts[0]!.split('.')[1]!, 'base64url').toString().includes('alice-pw'), 'no password in it');
  const session = await get(c, '/ui/api/session');
  assert.deepEqual(session.json(), { user: 'alice', mode: 'htpasswd', expiresAt: r.json().expiresAt });
  assert.deepEqual((await get(anonymous, '/ui/api/session')).json(), { user: null, mode: 'htpasswd', expiresAt: null });
  // Another gateway process with the same server.key and users (a replica) takes the same cookie.
  assert.equal((await get({ gw: tokenGw, cookie: c.cookie }, '/ui/api/session')).json().user, 'alice');
  assert.equal((await get({ gw: tokenGw }, '/ui/api/session')).json().mode, 'token');
  assert.deepEqual((await get({ gw: noneGw }, '/ui/api/session')).json(), { user: null, mode: 'none', expiresAt: null });
});

test('login refusals: wrong password 401; bad bodies 4xx naming the problem; a login needs the Origin too; mode none has none', async () => {
  const c: Client = { gw, localAddress: '127.0.0.5' };
  const wrong = await call(c, 'POST', '/ui/api/session', { body: { username: 'alice', password: 'nope' } });
  assert.equal(wrong.status, 401);
  assert.equal(errorOf(wrong).code, 'UNAUTHORIZED');
  assert.equal(wrong.headers['set-cookie'], undefined);
  const cases: [unknown, number, string, RegExp][] = [
    [{ username: 'alice' }, 400, 'BAD_REQUEST', /'password' is required/],
    [{ username: '', password: 'x' }, 400, 'BAD_REQUEST', /'username'/],
    [{ username: 'a', password: 7 }, 400, 'BAD_REQUEST', /'password'/],
    ['{not json', 400, 'BAD_JSON', /not valid JSON/],
    ['[1]', 400, 'BAD_JSON', /object/],
    [{ username: 'alice', password: 'x'.repeat(5000) }, 413, 'BODY_TOO_LARGE', /4 KiB/],
  ];
  for (const [body, status, code, message] of cases) {
    const r = await call(c, 'POST', '/ui/api/session', { body });
    assert.equal(r.status, status, JSON.stringify(body).slice(0, 40));
    assert.equal(errorOf(r).code, code);
    assert.match(errorOf(r).message, message);
  }
  const form = await call(c, 'POST', '/ui/api/session', { body: 'username=alice&password=alice-pw', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(form.status, 415);
  assert.equal(errorOf(form).code, 'CONTENT_TYPE');
  for (const origin of [null, 'https://evil.example']) {
    const forged = await call(c, 'POST', '/ui/api/session', { body: { username: 'alice', password: 'alice-pw' }, origin });
    assert.equal(forged.status, 403, `login with Origin ${origin}`);
    assert.equal(errorOf(forged).code, 'ORIGIN');
  }
  const none = await call({ gw: noneGw }, 'POST', '/ui/api/session', { body: { username: 'alice', password: 'alice-pw' } });
  assert.equal(none.status, 400);
  assert.match(errorOf(none).message, /auth\.mode none has no accounts/);
});

test('throttled like Basic: 429 after the same 10 failures, and Basic and UI failures count together', async () => {
  const uiLogin = (localAddress: string, password: string) =>
    call({ gw, localAddress }, 'POST', '/ui/api/session', { body: { username: 'carol', password } });
  const basicLogin = (localAddress: string, password: string) =>
    request(`${gw.url}/v2/`, { ca, headers: basic(`carol:${password}`), localAddress });
  // The UI alone, from one address: ten failures, then 429 with how long to wait.
  for (let i = 0; i < 10; i++) assert.equal((await uiLogin('127.0.0.2', `wrong-${i}`)).status, 401, `UI failure ${i + 1}`);
  const limited = await uiLogin('127.0.0.2', 'carol-pw');
  assert.equal(limited.status, 429, 'even the right password, from an address past its limit');
  assert.equal(errorOf(limited).code, 'TOO_MANY_REQUESTS');
  assert.ok(errorOf(limited).retryAfter! >= 1 && errorOf(limited).retryAfter! <= 60);
  assert.equal(limited.headers['retry-after'], String(errorOf(limited).retryAfter));
  assert.equal((await basicLogin('127.0.0.2', 'carol-pw')).status, 429, 'UI failures hold Basic back too');
  // Basic alone, from another: the same ten.
  for (let i = 0; i < 10; i++) assert.equal((await basicLogin('127.0.0.3', `wrong-${i}`)).status, 401, `Basic failure ${i + 1}`);
  assert.equal((await basicLogin('127.0.0.3', 'wrong')).status, 429);
  // Mixed, from a third: five of each, and the UI is held back.
  for (let i = 0; i < 5; i++) {
    assert.equal((await basicLogin('127.0.0.4', `wrong-b${i}`)).status, 401);
    assert.equal((await uiLogin('127.0.0.4', `wrong-u${i}`)).status, 401);
  }
  assert.equal((await uiLogin('127.0.0.4', 'carol-pw')).status, 429, 'Basic failures count against UI logins from the same address');
  // From an address that has not failed, carol logs in.
  assert.equal((await uiLogin('127.0.0.6', 'carol-pw')).status, 200);
});

test('repositories: only what the viewer may pull, as the access rules say for docker', async () => {
  // Every page: the 1,100 many/* names sort between alice/* and private/*.
  const names = async (c: Client) => {
    const all: string[] = [];
    let last: string | null = null;
    do {
      const r = await get(c, `/ui/api/repositories?n=1000${last ? `&last=${encodeURIComponent(last)}` : ''}`);
      assert.equal(r.status, 200, r.body.toString());
      all.push(...r.json().repositories);
      last = r.json().next;
    } while (last);
    return all.filter((n) => !n.startsWith('many/'));
  };
  assert.deepEqual(await names(admin), ['alice/app', 'alice/gone', 'alice/multi', 'private/secret', 'public/base']);
  assert.deepEqual(await names(alice), ['alice/app', 'alice/gone', 'alice/multi', 'public/base']);
  assert.deepEqual(await names(bob), ['public/base']);
  assert.deepEqual(await names(anonymous), ['public/base']);
  assert.deepEqual(await names({ gw: noneGw }), ['public/base'], 'auth.mode none: everyone anonymous, anonymous rules apply');
  const anon = await get(anonymous, '/ui/api/repositories');
  assert.deepEqual(anon.json(), { repositories: ['public/base'], next: null, total: 1 });
  // What docker sees through the same gateway, the same list.
  const docker = await request(`${gw.url}/v2/_catalog?n=1000&last=many/r-1099`, { ca, headers: basic('alice:alice-pw') });
  assert.deepEqual(docker.json().repositories, ['public/base']);
  const dockerFirst = await request(`${gw.url}/v2/_catalog?n=3`, { ca, headers: basic('alice:alice-pw') });
  assert.deepEqual(dockerFirst.json().repositories, (await names(alice)).slice(0, 3));
});

test('repository summaries: tags, last push, platforms for up to 25 names a call; names the viewer may not pull left out', async () => {
  const q = (names: string[]) => `/ui/api/repositories/summary?${names.map((n) => `name=${encodeURIComponent(n)}`).join('&')}`;
  const r = await get(alice, q(['alice/app', 'alice/multi', 'private/secret', 'public/base']));
  assert.equal(r.status, 200, r.body.toString());
  const rows = r.json().summaries as { name: string; tags: number; lastPush: string | null; platforms: { os: string; architecture: string }[]; partial: boolean }[];
  assert.deepEqual(rows.map((x) => x.name), ['alice/app', 'alice/multi', 'public/base'], 'private/secret is not alice\'s to see');
  const app = rows.find((x) => x.name === 'alice/app')!;
  assert.equal(app.tags, 2);
  assert.equal(app.partial, false);
  assert.ok(app.lastPush && !Number.isNaN(Date.parse(app.lastPush)));
  const multi = rows.find((x) => x.name === 'alice/multi')!;
  assert.ok(multi.platforms.length >= 2, JSON.stringify(multi.platforms));
  assert.equal((await get(alice, q(Array.from({ length: 26 }, (_, i) => `many/r-${i}`)))).status, 400, 'at most 25 a call');
  assert.equal((await get(alice, '/ui/api/repositories/summary')).status, 400);
  assert.equal((await get(alice, q(['Bad Name']))).status, 400);
  assert.equal((await get(anonymous, q(['alice/app']))).json().summaries.length, 0);
});

test('search and pages past 1,000: every name once, cursors from the filtered list', async () => {
  const first = await get(alice, '/ui/api/repositories?q=many&n=1000');
  assert.equal(first.status, 200);
  const p1 = first.json();
  assert.equal(p1.total, MANY);
  assert.equal(p1.repositories.length, 1000);
  assert.equal(p1.next, 'many/r-0999');
  const second = (await get(alice, `/ui/api/repositories?q=many&n=1000&last=${encodeURIComponent(p1.next)}`)).json();
  assert.equal(second.repositories.length, 100);
  assert.equal(second.next, null);
  assert.deepEqual([...p1.repositories, ...second.repositories], manyNames);
  // The default page is 100; walking it covers the same 1,100.
  let last: string | null = null;
  const walked: string[] = [];
  do {
    const r = (await get(alice, `/ui/api/repositories?q=many${last ? `&last=${encodeURIComponent(last)}` : ''}`)).json() as { repositories: string[]; next: string | null };
    walked.push(...r.repositories);
    last = r.next;
  } while (last);
  assert.deepEqual(walked, manyNames);
  const search = (await get(alice, '/ui/api/repositories?q=R-10&n=1000')).json();
  assert.equal(search.total, 100, 'substring, case-insensitive: many/r-1000 to many/r-1099');
  assert.ok(search.repositories.every((n: string) => n.startsWith('many/r-10')));
  assert.deepEqual((await get(anonymous, '/ui/api/repositories?q=many')).json(), { repositories: [], next: null, total: 0 }, 'anonymous may pull none of them');
  for (const [query, code] of [['n=1001', 'PAGINATION_INVALID'], ['n=0', 'PAGINATION_INVALID'], ['last=..%2F..', 'PAGINATION_INVALID'], ['x=1', 'BAD_PARAMETER']]) {
    const r = await get(alice, `/ui/api/repositories?${query}`);
    assert.equal(r.status, 400, query);
    assert.equal(errorOf(r).code, code);
  }
});

/** What the upstream holds for an image manifest: manifest + config + layers, and the config's fields. */
async function imageFacts(baseUrl: string, name: string, ref: string) {
  const m = await upstreamManifest(baseUrl, name, ref);
  const config = JSON.parse(Buffer.from(await (await fetch(`${baseUrl}/v2/${name}/blobs/${m.json.config.digest}`)).arrayBuffer()).toString());
  const size = m.bytes.length + m.json.config.size + m.json.layers.reduce((s: number, l: { size: number }) => s + l.size, 0);
  return { digest: m.digest, size, config, layers: m.json.layers };
}

test('tags: sorted, each with digest, size, creation date and platforms; an index with both of its platforms', async () => {
  const r = await get(alice, '/ui/api/repositories/tags?name=alice/app');
  assert.equal(r.status, 200, r.body.toString());
  const body = r.json();
  assert.equal(body.name, 'alice/app');
  assert.equal(body.total, 2);
  assert.equal(body.next, null);
  assert.equal(body.canDelete, true, 'alice may delete in alice/**, and the upstream deletes');
  assert.deepEqual(body.tags.map((t: { name: string }) => t.name), ['v1', 'v2']);
  for (const tag of body.tags) {
    const facts = await imageFacts(registry.url, 'alice/app', tag.name);
    assert.equal(tag.digest, facts.digest);
    assert.equal(tag.mediaType, OCI_MANIFEST);
    assert.equal(tag.size, facts.size, `${tag.name}: manifest + config + layers`);
    assert.equal(tag.created, facts.config.created);
    assert.deepEqual(tag.platforms, [{ os: facts.config.os, architecture: facts.config.architecture }]);
  }
  const paged = (await get(alice, '/ui/api/repositories/tags?name=alice/app&n=1')).json();
  assert.deepEqual([paged.tags.map((t: { name: string }) => t.name), paged.next, paged.total], [['v1'], 'v1', 2]);
  const rest = (await get(alice, '/ui/api/repositories/tags?name=alice/app&n=1&last=v1')).json();
  assert.deepEqual([rest.tags.map((t: { name: string }) => t.name), rest.next], [['v2'], null]);

  const m = (await get(alice, '/ui/api/repositories/tags?name=alice/multi')).json();
  const stored = await registrySizes(registry.url, 'alice/multi', 'v1');
  const [tag] = m.tags;
  assert.equal(tag.digest, stored.digest);
  assert.equal(tag.mediaType, 'application/vnd.oci.image.index.v1+json');
  assert.deepEqual(tag.platforms, [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' }]);
  assert.equal(tag.size, stored.platforms.reduce((s, p) => s + p.size, 0), 'the sum over its platforms');
  assert.equal(tag.created, '2026-01-15T10:00:00Z');
  assert.equal((await get(bob, '/ui/api/repositories/tags?name=public/base')).json().canDelete, false, 'bob may pull, not delete');
});

test('tags refused as the registry would: anonymous 401, another user 403, unknown 404, a bad name 400', async () => {
  const anon = await get(anonymous, '/ui/api/repositories/tags?name=alice/app');
  assert.equal(anon.status, 401);
  assert.equal(errorOf(anon).code, 'UNAUTHORIZED');
  const other = await get(bob, '/ui/api/repositories/tags?name=alice/app');
  assert.equal(other.status, 403);
  assert.equal(errorOf(other).code, 'DENIED');
  assert.equal((await get(bob, '/ui/api/repositories/tags?name=private/nothing')).status, 403, 'refused before anything is looked up: no oracle');
  const missing = await get(admin, '/ui/api/repositories/tags?name=private/nothing');
  assert.equal(missing.status, 404);
  assert.equal(errorOf(missing).code, 'NOT_FOUND');
  for (const name of ['..%2Fetc', 'Alice/app', 'a%2F%2Fb', '']) {
    const r = await get(admin, `/ui/api/repositories/tags?name=${name}`);
    assert.equal(r.status, 400, name);
    assert.equal(errorOf(r).code, 'NAME_INVALID');
    assert.match(errorOf(r).message, /'name'/);
  }
  assert.equal((await get(anonymous, '/ui/api/repositories/tags?name=public/base')).status, 200, 'anonymous may pull public/**');
});

test('manifest: an index with each platform\'s size, layers and config; an image; no referrers (an empty list) on distribution 2.8', async () => {
  const r = await get(alice, '/ui/api/manifest?name=alice/multi&ref=v1');
  assert.equal(r.status, 200, r.body.toString());
  const d = r.json();
  const stored = await registrySizes(registry.url, 'alice/multi', 'v1');
  assert.equal(d.kind, 'index');
  assert.equal(d.digest, stored.digest);
  assert.equal(d.ref, 'v1');
  assert.deepEqual(d.tags, ['v1']);
  assert.deepEqual(d.referrers, [], 'nothing refers to it: the gateway keeps the fallback tag, and there is none');
  assert.equal(d.canDelete, true);
  assert.equal(d.platforms.length, 2);
  for (const [i, p] of d.platforms.entries()) {
    const built = multi.platforms[i]!;
    assert.equal(p.digest, stored.platforms[i]!.digest);
    assert.deepEqual(p.platform, built.platform);
    assert.equal(p.size, stored.platforms[i]!.size);
    assert.deepEqual(p.layers, built.layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size })));
    assert.deepEqual(p.config.entrypoint, ['/bin/app']);
    assert.ok(p.config.env.includes('APP_MODE=production'));
    assert.equal(p.config.labels['org.opencontainers.image.title'], 'app');
    assert.equal(p.config.created, '2026-01-15T10:00:00Z');
    assert.equal(p.config.os, 'linux');
    assert.ok(p.config.history.some((h: { createdBy: string }) => /COPY .*layer-0\.bin/.test(h.createdBy)));
  }
  assert.equal(d.size, stored.platforms.reduce((s, p) => s + p.size, 0));
  // A platform by its digest: an image.
  const arm = (await get(alice, `/ui/api/manifest?name=alice/multi&ref=${d.platforms[1].digest}`)).json();
  assert.equal(arm.kind, 'image');
  assert.equal(arm.size, d.platforms[1].size);
  assert.deepEqual(arm.tags, [], 'no tag names the platform manifest');
  const image = (await get(alice, '/ui/api/manifest?name=alice/app&ref=v2')).json();
  const facts = await imageFacts(registry.url, 'alice/app', 'v2');
  assert.equal(image.kind, 'image');
  assert.equal(image.digest, facts.digest);
  assert.equal(image.size, facts.size);
  assert.equal(image.layers.length, 2);
  assert.deepEqual(image.layers.map((l: { digest: string }) => l.digest), facts.layers.map((l: { digest: string }) => l.digest));
  assert.equal(image.config.created, facts.config.created);
  assert.deepEqual(image.tags, ['v2']);
  for (const [q, status, code] of [
    ['name=alice/app&ref=nope', 404, 'NOT_FOUND'], ['name=alice/app&ref=..%2F..', 400, 'REFERENCE_INVALID'],
    ['name=alice/app', 400, 'REFERENCE_INVALID'], ['name=private/secret&ref=v1', 403, 'DENIED'],
  ] as const) {
    const x = await get(alice, `/ui/api/manifest?${q}`);
    assert.equal(x.status, status, q);
    assert.equal(errorOf(x).code, code);
  }
});

test('delete: a user with delete gets 202 and the manifest is gone; one without gets 403 and nothing goes', async () => {
  const target = await upstreamManifest(registry.url, 'alice/gone', 'v2');
  assert.equal(target.status, 200);
  const del = (c: Client, name: string, digest: string, origin?: string | null) =>
    call(c, 'DELETE', `/ui/api/manifest?name=${name}&digest=${digest}`, { origin });
  const refused = await del(bob, 'alice/gone', target.digest);
  assert.equal(refused.status, 403);
  assert.equal(errorOf(refused).code, 'DENIED');
  assert.equal((await del(anonymous, 'alice/gone', target.digest)).status, 401);
  const baseDigest = (await upstreamManifest(registry.url, 'public/base', 'v1')).digest;
  assert.equal((await del(bob, 'public/base', baseDigest)).status, 403, 'pull is not delete');
  assert.equal((await upstreamManifest(registry.url, 'alice/gone', 'v2')).status, 200, 'still there');
  assert.equal((await upstreamManifest(registry.url, 'public/base', 'v1')).status, 200, 'still there');
  const done = await del(alice, 'alice/gone', target.digest);
  assert.equal(done.status, 202, done.body.toString());
  assert.deepEqual(done.json(), { name: 'alice/gone', digest: target.digest });
  assert.equal((await upstreamManifest(registry.url, 'alice/gone', target.digest)).status, 404, 'gone upstream');
  assert.equal((await upstreamManifest(registry.url, 'alice/gone', 'v2')).status, 404, 'and its tag with it');
  const tags = (await get(alice, '/ui/api/repositories/tags?name=alice/gone')).json();
  assert.deepEqual(tags.tags, []);
  assert.equal((await del(alice, 'alice/gone', target.digest)).status, 404, 'deleting it again');
  assert.equal((await del(alice, 'alice/gone', 'latest')).status, 400, 'a digest only');
});

test('forged deletes: without an Origin, or with another, 403 ORIGIN and nothing deleted', async () => {
  const target = await upstreamManifest(registry.url, 'alice/app', 'v1');
  for (const origin of [null, 'https://evil.example', 'null', `https://localhost:${gw.port}.evil.example`]) {
    const r = await call(alice, 'DELETE', `/ui/api/manifest?name=alice/app&digest=${target.digest}`, { origin });
    assert.equal(r.status, 403, `Origin ${origin}`);
    assert.equal(errorOf(r).code, 'ORIGIN');
  }
  const crossSite = await call(alice, 'DELETE', `/ui/api/manifest?name=alice/app&digest=${target.digest}`, { headers: { 'sec-fetch-site': 'cross-site' } });
  assert.equal(crossSite.status, 403);
  assert.equal((await upstreamManifest(registry.url, 'alice/app', 'v1')).status, 200, 'nothing deleted');
});

test('the upstream\'s delete off: canDelete false, and a delete is 405 UNSUPPORTED', async () => {
  const tokenAdmin = await loggedIn(tokenGw, 'admin');
  const tags = (await get(tokenAdmin, '/ui/api/repositories/tags?name=alice/app')).json();
  assert.equal(tags.canDelete, false, 'the rules grant it; the upstream does not');
  assert.equal((await get(tokenAdmin, '/ui/api/manifest?name=alice/app&ref=v1')).json().canDelete, false);
  const digest = tags.tags[0].digest;
  const r = await call(tokenAdmin, 'DELETE', `/ui/api/manifest?name=alice/app&digest=${digest}`);
  assert.equal(r.status, 405);
  assert.equal(errorOf(r).code, 'UNSUPPORTED');
  assert.equal((await upstreamManifest(noDeleteUrl, 'alice/app', digest)).status, 200);
});

test('logout: 204, the cookie cleared, and the old cookie refused when replayed', async () => {
  const c = await loggedIn(gw, 'alice');
  const stolen = c.cookie!;
  assert.equal((await get(c, '/ui/api/repositories/tags?name=alice/app')).status, 200);
  const out = await call(c, 'DELETE', '/ui/api/session');
  assert.equal(out.status, 204);
  assert.match(out.headers['set-cookie']![0]!, /^__Host-gateway-session=; Max-Age=0; Path=\/; Secure; HttpOnly; SameSite=Strict/);
  const replay: Client = { gw, cookie: stolen };
  assert.deepEqual((await get(replay, '/ui/api/session')).json(), { user: null, mode: 'htpasswd', expiresAt: null });
  assert.equal((await get({ gw, cookie: stolen }, '/ui/api/repositories/tags?name=alice/app')).status, 401, 'treated as anonymous');
  assert.deepEqual((await get({ gw, cookie: stolen }, '/ui/api/repositories')).json().repositories, ['public/base']);
  assert.equal((await call({ gw, cookie: stolen }, 'DELETE', '/ui/api/session', { origin: null })).status, 403, 'logout needs the Origin too');
  assert.equal((await get(alice, '/ui/api/repositories/tags?name=alice/app')).status, 200, 'alice\'s other session lives on');
});

test('a password change (or a removed user) ends the session', async () => {
  const dave = await loggedIn(gw, 'dave');
  assert.equal((await get(dave, '/ui/api/session')).json().user, 'dave');
  const cookie = dave.cookie;
  await addUser('dave', 'dave-new-pw', 'passwd');
  const deadline = Date.now() + 15_000;
  let user: string | null = 'dave';
  while (user !== null && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    user = (await get({ gw, cookie }, '/ui/api/session')).json().user;
  }
  assert.equal(user, null, 'the stamp no longer matches: refused');
  assert.equal((await loggedIn(gw, 'dave', 'dave-new-pw')).cookie !== undefined, true, 'a new login works');
});

test('token mode: the pull secret holds a pull-only token, not the password; skopeo pulls with it and cannot push', async () => {
  const erin = await loggedIn(tokenGw, 'erin');
  assert.equal((await get({ gw: tokenGw }, '/ui/api/pull-secret')).status, 401, 'logged in only');
  const r = await get(erin, '/ui/api/pull-secret?namespace=apps');
  assert.equal(r.status, 200, r.body.toString());
  const body = r.json();
  assert.equal(body.template, false);
  const secret = parse(body.yaml);
  assert.equal(secret.kind, 'Secret');
  assert.equal(secret.type, 'kubernetes.io/dockerconfigjson');
  assert.deepEqual(secret.metadata, { name: 'registry-gateway-pull', namespace: 'apps' });
  // Token mode takes the name asked for too.
  assert.deepEqual(parse((await get(erin, '/ui/api/pull-secret?namespace=apps&name=erin-pull')).json().yaml).metadata, { name: 'erin-pull', namespace: 'apps' });
  const config = JSON.parse(Buffer.from(secret.data['.dockerconfigjson'], 'base64').toString());
  const entry = config.auths[service];
  assert.ok(entry, `an entry for ${service}: ${JSON.stringify(Object.keys(config.auths))}`);
  assert.equal(entry.username, 'erin');
  assert.notEqual(entry.password, 'erin-pw');
  assert.ok(!body.yaml.includes('erin-pw') && !Buffer.from(secret.data['.dockerconfigjson'], 'base64').toString().includes('erin-pw'));
  assert.equal(entry.auth, Buffer.from(`erin:${entry.password}`).toString('base64'));
  const token = entry.password as string;
  assert.ok(Date.parse(body.expiresAt) > Date.now() + 29 * 86_400_000, 'refreshTtl (30 days by default)');

  const trusted = join(work, 'trusted');
  await mkdir(trusted, { recursive: true });
  await copyFile(join(certs, 'ca.crt'), join(trusted, 'ca.crt'));
  // public/** is what erin may pull; push she may nowhere.
  const inspect = await skopeo(['inspect', '--cert-dir', trusted, '--creds', `erin:${token}`, `docker://${service}/public/base:v1`]);
  assert.equal(inspect.code, 0, inspect.stderr);
  const pullCopy = await skopeo(['copy', '--src-cert-dir', trusted, '--src-creds', `erin:${token}`, `docker://${service}/public/base:v1`, `oci:${join(work, 'pulled')}:v1`]);
  assert.equal(pullCopy.code, 0, pullCopy.stderr);
  // admin's token may pull everything, and push nothing: rules grant admin push, the token does not.
  const adminUi = await loggedIn(tokenGw, 'admin');
  const adminToken = JSON.parse(Buffer.from(parse((await get(adminUi, '/ui/api/pull-secret')).json().yaml).data['.dockerconfigjson'], 'base64').toString()).auths[service].password;
  assert.equal((await skopeo(['inspect', '--cert-dir', trusted, '--creds', `admin:${adminToken}`, `docker://${service}/private/secret:v1`])).code, 0);
  const push = await skopeo(['copy', '--dest-cert-dir', trusted, '--dest-creds', `admin:${adminToken}`, `oci:${v1}:v1`, `docker://${service}/admin/pushed:v1`]);
  assert.notEqual(push.code, 0, 'a pull token cannot push');
  assert.equal((await skopeo(['copy', '--dest-cert-dir', trusted, '--dest-creds', 'admin:admin-pw', `oci:${v1}:v1`, `docker://${service}/admin/pushed:v1`])).code, 0,
    'the password can');

  // At /token: pull scopes only, no refresh token; as a Bearer token or a refresh token it is nothing.
  const q = new URLSearchParams({ service, scope: 'repository:admin/pushed:pull,push,delete', offline_token: 'true' });
  q.append('scope', 'registry:catalog:*');
  const t = await request(`${tokenGw.url}/token?${q}`, { ca, headers: basic(`admin:${adminToken}`) });
  assert.equal(t.status, 200, t.body.toString());
  const claims = JSON.parse(Buffer.from(t.json().token.split('.')[1], 'base64url').toString());
  assert.deepEqual(claims.access, [{ type: 'repository', name: 'admin/pushed', actions: ['pull'] }]);
  assert.equal(t.json().refresh_token, undefined);
  const form = { ca, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' } };
  const oauth = await request(`${tokenGw.url}/token`, { ...form, body: new URLSearchParams({ grant_type: 'password', username: 'admin', password: adminToken, service, client_id: 'containerd', scope: 'repository:admin/pushed:pull,push', access_type: 'offline' }).toString() });
  assert.equal(oauth.status, 200);
  assert.equal(oauth.json().scope, 'repository:admin/pushed:pull');
  assert.equal(oauth.json().refresh_token, undefined);
  assert.equal((await request(`${tokenGw.url}/token`, { ...form, body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: adminToken, service, client_id: 'x' }).toString() })).status, 401, 'no refresh token');
  assert.equal((await request(`${tokenGw.url}/v2/`, { ca, headers: { authorization: `Bearer ${adminToken}` } })).status, 401, 'no access token');
  assert.equal((await request(`${tokenGw.url}/token?service=${service}`, { ca, headers: basic(`erin:${adminToken}`) })).status, 401, 'another user\'s token is no password');

  // It ends with the password.
  await addUser('erin', 'erin-new-pw', 'passwd');
  const deadline = Date.now() + 15_000;
  let status = 200;
  while (status === 200 && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 200));
    status = (await request(`${tokenGw.url}/token?service=${service}&scope=repository:public/base:pull`, { ca, headers: basic(`erin:${token}`) })).status;
  }
  assert.equal(status, 401, 'password changed: the pull token is refused');

  // htpasswd mode: the server holds no token to give, the browser fills in the password.
  const template = (await get(alice, '/ui/api/pull-secret?namespace=default')).json();
  assert.deepEqual({ ...template, registries: undefined },
    { yaml: null, template: true, name: 'registry-gateway-pull', namespace: 'default', registry: `127.0.0.1:${gw.port}`, registries: undefined });
  // Every address the certificate names, the browser's first: the Secret must work from nodes too.
  const setup = (await get(anonymous, '/ui/api/setup')).json();
  assert.equal(template.registries[0], `127.0.0.1:${gw.port}`);
  assert.deepEqual([...template.registries].sort(), [...setup.registries].sort());
  assert.ok(template.registries.length > 1, JSON.stringify(template.registries));
});

test('setup: the trust\'s fingerprint and commands, per-runtime steps, the certificate\'s status', async () => {
  const r = await get(anonymous, '/ui/api/setup');
  assert.equal(r.status, 200);
  const d = r.json();
  const trustIndex = (await request(`${gw.url}/trust/`, { ca })).body.toString();
  assert.equal(d.registry, `127.0.0.1:${gw.port}`);
  assert.equal(d.caSha256, createHash('sha256').update(ca.replace(/\r\n/g, '\n')).digest('hex'));
  assert.ok(trustIndex.includes(d.caSha256));
  assert.ok(d.commands.length >= 2);
  for (const c of d.commands) assert.ok(trustIndex.includes(c), 'the same commands /trust/ gives');
  assert.ok(d.commands[0].includes(`https://127.0.0.1:${gw.port}/trust/`), 'this address first');
  assert.equal(d.bundleUrl, '/trust/bundle.tar.gz');
  assert.equal((await request(`${gw.url}${d.bundleUrl}`, { ca, method: 'HEAD' })).status, 200);
  assert.deepEqual(Object.keys(d.steps).sort(), ['containerd', 'docker', 'k3d', 'k3s', 'kind', 'kubernetes']);
  assert.deepEqual(d.certificate.names, ['localhost', '127.0.0.1']);
  assert.ok(d.certificate.daysLeft > 300, String(d.certificate.daysLeft));
  assert.equal(d.certificate.warning, false);
  assert.ok(Date.parse(d.certificate.notAfter) > Date.now());
});

test('security headers on /ui, the API (answers and errors) and the assets; no-store on API and index.html', async () => {
  const index = await get(anonymous, '/ui/');
  const built = index.status === 200;
  const asset = built ? /\/ui\/assets\/[^"']+\.js/.exec(index.body.toString())?.[0] : undefined;
  const answers: [string, Reply][] = [
    ['/ui', await get(anonymous, '/ui')], ['/ui/', index], ['/ui/repo', await get(anonymous, '/ui/repo?name=public/base')],
    ['session', await get(anonymous, '/ui/api/session')], ['repositories', await get(alice, '/ui/api/repositories')],
    ['setup', await get(anonymous, '/ui/api/setup')], ['401', await get(anonymous, '/ui/api/repositories/tags?name=alice/app')],
    ['404', await get(anonymous, '/ui/api/nothing')], ['405', await call(anonymous, 'PUT', '/ui/api/session')],
    ['traversal', await raw('/ui/%2e%2e/%2e%2e/etc/passwd')],
  ];
  if (asset) answers.push(['asset', await get(anonymous, asset)]);
  for (const [what, r] of answers) {
    assert.equal(r.headers['content-security-policy'], CSP, what);
    assert.equal(r.headers['x-content-type-options'], 'nosniff', what);
    assert.equal(r.headers['referrer-policy'], 'no-referrer', what);
    assert.equal(r.headers['access-control-allow-origin'], undefined, `${what}: no CORS`);
  }
  for (const [what, r] of answers.slice(3, 9)) {
    assert.equal(r.headers['cache-control'], 'no-store', what);
    assert.match(r.headers['content-type']!, /^application\/json/, what);
  }
  assert.equal(answers[7]![1].status, 404);
  assert.equal(errorOf(answers[7]![1]).code, 'NOT_FOUND');
  assert.equal(answers[8]![1].status, 405);
  assert.equal(answers[8]![1].headers.allow, 'GET, HEAD, POST, DELETE');
  assert.equal(answers[9]![1].status, 400);
  assert.ok(!answers[9]![1].body.toString().includes('root:'));
  if (built) {
    assert.equal(index.headers['cache-control'], 'no-store');
    assert.match(index.headers['content-type']!, /^text\/html/);
    assert.ok(asset, 'index.html names its script');
    const a = answers.at(-1)![1];
    assert.equal(a.status, 200);
    assert.match(a.headers['cache-control']!, /immutable/);
  } else {
    // Not built (tsc alone): the pages say how to build them.
    assert.equal(index.status, 503);
    assert.equal(index.body.toString(), 'the web UI is not built: run npm run build\n');
    assert.ok(await readFile(join(ROOT, 'package.json'), 'utf8'));
  }
  // A Host the certificate does not name is refused, as for the registry.
  const evil = await raw('/ui/api/session', { host: 'evil.example' });
  assert.equal(evil.status, 400);
  assert.match(evil.body.toString(), /not a name in the gateway's certificate/);
});
