// Security fixes against a real docker-registry, through real gateways in
// htpasswd and token mode: a guesser cannot lock a user out, a mount's source
// is in the challenge, token requests are capped, Authorization is read one
// way only, and an empty body skips no check.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import https from 'node:https';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gateway as gatewayCli } from '../helpers/exec.js';
import { startGateway } from '../helpers/gateway.js';
import { request, type Reply } from '../helpers/https.js';
import { startRegistry } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';

const work = await tempDir();
const certs = join(work, 'certs');
const htpasswd = join(work, 'htpasswd');
assert.equal((await gatewayCli(['certs', 'init', '--dir', certs, '--host', 'localhost', '--host', '127.0.0.1'])).code, 0);
for (const user of ['alice', 'bob', 'reader', 'victim']) {
  const added = await gatewayCli(['users', 'add', user, '--password-stdin', '--min-length', '1', '--file', htpasswd, '--cost', '4'], { input: `${user}-pw` });
  assert.equal(added.code, 0);
}
const ca = await readFile(join(certs, 'ca.crt'), 'utf8');
const registry = await startRegistry(work, { storage: join(work, 'storage') });
const access = [
  { account: 'alice', name: '**', actions: ['*'] },
  { account: 'reader', name: '**', actions: ['pull'] },
  { account: '*', name: '${account}/**', actions: ['pull', 'push'] },
];
const tls = { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') };
const basicGw = await startGateway(work, { upstream: registry.url, tls, auth: { mode: 'htpasswd', htpasswd }, access });
const service = 'registry.test:5443';
const tokenAuth = { mode: 'token', htpasswd, token: { service, signingKey: join(certs, 'token.key') } };
const tokenGw = await startGateway(work, { upstream: registry.url, tls, auth: tokenAuth, access });
after(async () => {
  await basicGw.stop();
  await tokenGw.stop();
  await registry.stop();
});

const basic = (creds: string) => `Basic ${Buffer.from(creds).toString('base64')}`;
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const postToken = (fields: Record<string, string>, localAddress?: string) => {
  const body = new URLSearchParams({ service, client_id: 't', ...fields }).toString();
  return request(`${tokenGw.url}/token`, { ca, method: 'POST', headers: FORM, body, ...(localAddress ? { localAddress } : {}) });
};
const password = (username: string, pw: string, extra: Record<string, string> = {}) =>
  ({ grant_type: 'password', username, password: pw, ...extra });
const v2 = (gw: typeof basicGw, authorization: string | string[], localAddress?: string) =>
  request(`${gw.url}/v2/`, { ca, headers: { authorization }, ...(localAddress ? { localAddress } : {}) });
async function token(user: string | undefined, scopes: string[]): Promise<string> {
  const q = new URLSearchParams({ service });
  scopes.forEach((s) => q.append('scope', s));
  const r = await request(`${tokenGw.url}/token?${q}`, { ca, headers: user ? { authorization: basic(user) } : {} });
  assert.equal(r.status, 200, r.body.toString());
  return r.json().token;
}
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const statuses = (rs: Reply[]) => rs.map((r) => r.status);
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

// Three addresses reach their own limit of 10 with victim's account, 30 in
// all: the per-user limit. A fourth address has no failure for victim.
const ATTACKERS = ['127.0.0.11', '127.0.0.12', '127.0.0.13'];
const CLEAN = '127.0.0.14';

test('htpasswd: 3 addresses x 10 wrong passwords for one user, then the right one from a fourth address: 200', async () => {
  for (const localAddress of ATTACKERS) {
    const rs = [];
    for (let i = 0; i < 10; i++) rs.push(await v2(basicGw, basic(`victim:guess${i}`), localAddress));
    assert.deepEqual([...new Set(statuses(rs))], [401]);
  }
  const blocked = await v2(basicGw, basic('victim:victim-pw'), ATTACKERS[0]);
  assert.equal(blocked.status, 429, 'an attacking address stays throttled');
  assert.ok(Number(blocked.headers['retry-after']) > 0);
  const ok = await v2(basicGw, basic('victim:victim-pw'), CLEAN);
  assert.equal(ok.status, 200, ok.body.toString());
  assert.equal((await v2(basicGw, basic('victim:one-more'), '127.0.0.15')).status, 401, 'a clean address has one try at locked victim');
  assert.equal((await v2(basicGw, basic('victim:two-more'), '127.0.0.15')).status, 429, 'and only one');
});

test('token mode: the same with POST /token password grants', async () => {
  for (const localAddress of ATTACKERS) {
    const rs = [];
    for (let i = 0; i < 10; i++) rs.push(await postToken(password('victim', `guess${i}`), localAddress));
    assert.deepEqual([...new Set(statuses(rs))], [401]);
  }
  const blocked = await postToken(password('victim', 'victim-pw'), ATTACKERS[1]);
  assert.equal(blocked.status, 429);
  assert.equal(blocked.json().errors[0].code, 'TOOMANYREQUESTS');
  const ok = await postToken(password('victim', 'victim-pw', { scope: 'repository:victim/app:pull' }), CLEAN);
  assert.equal(ok.status, 200, ok.body.toString());
  assert.equal(ok.json().scope, 'repository:victim/app:pull');
});

test('--workers 2: the taint is shared: a clean address at a locked user has one try in all, not one per worker', async () => {
  const config = { upstream: registry.url, tls, auth: { mode: 'htpasswd', htpasswd }, access };
  const multi = await startGateway(work, config, { args: ['--workers', '2'] });
  try {
    await multi.waitFor((e) => e.msg === 'all workers listening');
    for (const localAddress of ATTACKERS) for (let i = 0; i < 10; i++) await v2(multi, basic(`victim:guess${i}`), localAddress);
    // A new connection each time: the cluster spreads them over the workers.
    const tries = [];
    for (let i = 0; i < 6; i++) tries.push((await v2(multi, basic(`victim:late${i}`), CLEAN)).status);
    assert.deepEqual(tries, [401, 429, 429, 429, 429, 429]);
  } finally {
    await multi.stop();
  }
});

/** Pushes one blob into each repository (as alice); returns its digest. */
async function pushBlob(content: string, repos: string[]): Promise<string> {
  const digest = `sha256:${createHash('sha256').update(content).digest('hex')}`;
  const t = await token('alice:alice-pw', repos.map((r) => `repository:${r}:pull,push`));
  for (const repo of repos) {
    const start = await request(`${tokenGw.url}/v2/${repo}/blobs/uploads/`, { ca, method: 'POST', headers: bearer(t) });
    assert.equal(start.status, 202);
    const headers = { ...bearer(t), 'content-type': 'application/octet-stream' };
    const done = await request(`${start.headers.location!}&digest=${digest}`, { ca, method: 'PUT', headers, body: content });
    assert.equal(done.status, 201, done.body.toString());
  }
  return digest;
}

test('a mount challenge names the source: its scopes mount (201) from a repository the user may pull, else upload', async () => {
  const digest = await pushBlob('a layer to mount', ['bob/src', 'alice/src']);
  const mount = async (target: string, from: string) => {
    const path = `${tokenGw.url}/v2/${target}/blobs/uploads/?mount=${digest}&from=${from}`;
    const challenge = await request(path, { ca, method: 'POST' });
    assert.equal(challenge.status, 401);
    const scope = /scope="([^"]*)"/.exec(challenge.headers['www-authenticate']!)![1]!;
    assert.equal(scope, `repository:${target}:pull,push repository:${from}:pull`);
    // As containerd does: the challenge's scopes, split on spaces, one parameter each.
    return request(path, { ca, method: 'POST', headers: bearer(await token('bob:bob-pw', scope.split(' '))) });
  };
  assert.equal((await mount('bob/dst', 'bob/src')).status, 201, 'bob may pull bob/src');
  const plain = await mount('bob/dst2', 'alice/src');
  assert.equal(plain.status, 202, 'bob may not pull alice/src: a plain upload');
  const t = await token('bob:bob-pw', ['repository:bob/dst2:pull']);
  const head = await request(`${tokenGw.url}/v2/bob/dst2/blobs/${digest}`, { ca, method: 'HEAD', headers: bearer(t) });
  assert.equal(head.status, 404, 'nothing mounted');
});

test('token requests: at most limits.tokenScopes (64) scopes, else 400 invalid_scope naming the limit', async () => {
  const scopes = (n: number) => Array.from({ length: n }, (_, i) => `repository:bob/r${i}:pull`);
  assert.equal(JSON.parse(Buffer.from((await token('bob:bob-pw', scopes(64))).split('.')[1]!, 'base64url').toString()).access.length, 64);
  const q = new URLSearchParams({ service });
  scopes(65).forEach((s) => q.append('scope', s));
  for (const r of [
    await request(`${tokenGw.url}/token?${q}`, { ca }),
    await request(`${tokenGw.url}/token?${q}`, { ca, headers: { authorization: basic('bob:bob-pw') } }),
    await postToken(password('bob', 'bob-pw', { scope: scopes(65).join(' ') })),
  ]) {
    assert.equal(r.status, 400);
    assert.equal(r.json().error, 'invalid_scope');
    assert.match(r.json().error_description, /65 scopes asked; at most 64 .*limits\.tokenScopes/);
    assert.equal(r.json().errors[0].code, 'UNSUPPORTED');
  }
});

/** POST /token with a body of `size` bytes; chunked (no Content-Length) when asked. */
function postBody(size: number, chunked: boolean): Promise<Reply> {
  const body = Buffer.from(`grant_type=password&username=bob&password=bob-pw&client_id=t&pad=${'x'.repeat(size)}`.slice(0, size));
  return new Promise((resolve, reject) => {
    let answered = false;
    const headers = { ...FORM, ...(chunked ? {} : { 'content-length': String(body.length) }) };
    const req = https.request(`${tokenGw.url}/token`, { method: 'POST', ca, agent: false, headers }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const all = Buffer.concat(chunks);
        resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: [], body: all, json: () => JSON.parse(`${all}`) });
      });
    });
    // Once answered, the client may still be sending when the gateway closes;
    // a reset before the answer is the failure this test is about.
    req.on('error', (err) => (answered ? undefined : reject(err)));
    for (let i = 0; i < body.length; i += 8192) req.write(body.subarray(i, i + 8192));
    req.end();
  });
}

test('POST /token over 64 KiB: 413 with both error forms and Connection: close, answered, not reset', async () => {
  for (const chunked of [false, true]) {
    for (const size of [64 * 1024 + 1, 1024 * 1024]) {
      const r = await postBody(size, chunked);
      assert.equal(r.status, 413, `${size} bytes, chunked ${chunked}`);
      assert.equal(r.headers.connection, 'close');
      assert.equal(r.json().error, 'invalid_request');
      assert.equal(r.json().errors[0].code, 'SIZE_INVALID');
      assert.match(r.json().error_description, /at most 64 KiB/);
    }
    assert.equal((await postBody(64 * 1024, chunked)).status, 200, 'exactly 64 KiB is fine');
  }
});

test('over 8 MiB of distinct tokens pass through the verified-token cache; an evicted one verifies again', async () => {
  // 30 scopes of 250-character names: tokens of about 14 KB, under the 16 KiB header limit.
  const scopes = Array.from({ length: 30 }, (_, i) => `repository:big/${'n'.repeat(240)}${i}:pull`);
  const agent = new https.Agent({ keepAlive: true, maxSockets: 4, ca });
  const first = await token('alice:alice-pw', scopes);
  assert.ok(first.length > 12_000 && first.length < 15_000, `${first.length}`);
  let seen = 0;
  const url = `${tokenGw.url}/token?service=${service}&${scopes.map((s) => `scope=${s}`).join('&')}`;
  for (let round = 0; round < 165; round++) {
    const alice = { authorization: basic('alice:alice-pw') };
    const minted = await Promise.all(Array.from({ length: 4 }, () => request(url, { ca, agent, headers: alice })));
    const used = await Promise.all(minted.map((m) => request(`${tokenGw.url}/v2/`, { ca, agent, headers: bearer(m.json().token) })));
    assert.deepEqual([...new Set(statuses(used))], [200]);
    seen += minted.reduce((n, m) => n + m.json().token.length, 0);
  }
  agent.destroy();
  assert.ok(seen > 8 * 1024 * 1024, `${seen} bytes of tokens`);
  assert.equal((await request(`${tokenGw.url}/v2/`, { ca, headers: bearer(first) })).status, 200);
});

test('Authorization: scheme case and spaces or tabs are the same user; duplicated or malformed is 401, never anonymous', async () => {
  const creds = Buffer.from('bob:bob-pw').toString('base64');
  const from = basicGw.entries().length;
  for (const authorization of [`basic ${creds}`, `BASIC ${creds}`, `Basic \t  ${creds}`, `Basic ${creds}  `]) {
    const r = await request(`${basicGw.url}/v2/bob/app/tags/list`, { ca, headers: { authorization } });
    assert.notEqual(r.status, 401, JSON.stringify(authorization));
    assert.notEqual(r.status, 403, JSON.stringify(authorization));
  }
  // Access-log lines may trail the responses.
  const deadline = Date.now() + 5000;
  const lines = () => basicGw.entries().slice(from).filter((e) => e.msg === 'request');
  while (lines().length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(lines().map((e) => e.user), ['bob', 'bob', 'bob', 'bob']);
  // /v2/ lets any authenticated user in and asks anonymous ones to log in:
  // 401 here means the credential was refused, not ignored.
  const twice = [[basic('bob:bob-pw'), basic('bob:bob-pw')], [basic('bob:bob-pw'), basic('alice:alice-pw')]];
  for (const authorization of [...twice, 'Basic', `Basic${creds}`, `Bearer ${creds}`, '']) {
    assert.equal((await v2(basicGw, authorization)).status, 401, JSON.stringify(authorization));
  }
  // Token mode: a Bearer token likewise; GET /token refuses a doubled Basic.
  const t = await token('bob:bob-pw', []);
  for (const authorization of [`bearer ${t}`, `BEARER\t${t}`]) assert.equal((await v2(tokenGw, authorization)).status, 200);
  for (const authorization of [[`Bearer ${t}`, `Bearer ${t}`], `Bearer ${t} x`, basic('bob:bob-pw')]) {
    assert.equal((await v2(tokenGw, authorization)).status, 401, JSON.stringify(authorization));
  }
  const doubled = await request(`${tokenGw.url}/token?service=${service}`, { ca, headers: { authorization: twice[1]! } });
  assert.equal(doubled.status, 400);
  assert.equal(doubled.json().token, undefined, 'no anonymous token either');
});

test('an empty body skips no check: POST /token is 400, no anonymous token; a pull-only user\'s empty manifest PUT is 403', async () => {
  for (const headers of [FORM, {}]) {
    const r = await request(`${tokenGw.url}/token`, { ca, method: 'POST', headers, body: '' });
    assert.equal(r.status, 400);
    assert.equal(r.json().token, undefined);
    assert.ok(r.json().error);
  }
  const put = (gw: typeof basicGw, authorization?: string) => request(`${gw.url}/v2/bob/app/manifests/v1`, {
    ca, method: 'PUT', body: '', headers: { 'content-type': MANIFEST, ...(authorization ? { authorization } : {}) },
  });
  assert.equal((await put(basicGw, basic('reader:reader-pw'))).status, 403);
  assert.equal((await put(basicGw)).status, 401);
  const tokenPut = await put(tokenGw, `Bearer ${await token('reader:reader-pw', ['repository:bob/app:pull,push'])}`);
  assert.equal(tokenPut.status, 401);
  assert.match(tokenPut.headers['www-authenticate']!, /error="insufficient_scope"/);
});
