// The request path in-process: each auth mode built from its factory, the
// handler's steps, and an in-process fake upstream that records what reaches
// it. Every 401, 403 and 429 of both modes, without starting a registry (the
// integration tests prove the same against docker-registry).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { pino } from 'pino';
import type { AuthMode } from '../../src/auth/mode.js';
import { policyFor } from '../../src/auth/policy.js';
import { createThrottle } from '../../src/auth/throttle.js';
import { setUser } from '../../src/auth/users.js';
import { initCerts } from '../../src/certs/init.js';
import { validateConfig } from '../../src/config/config.js';
import { clientAddress, createHandler, STEPS } from '../../src/proxy/handler.js';
import { createShares } from '../../src/proxy/shares.js';
import { createUpstream } from '../../src/proxy/upstream.js';
import { AUTH_MODES } from '../../src/server/authModes.js';
import { tempDir } from '../helpers/tmp.js';

const work = await tempDir();
const htpasswd = join(work, 'htpasswd');
for (const [user, pw] of [['alice', 'alice-pw'], ['bob', 'bob-pw']]) await setUser(htpasswd, user!, pw!, 4, 'add');
const certs = join(work, 'certs');
await initCerts({ dir: certs, hosts: ['localhost', '127.0.0.1'], caDays: 30, days: 10, nameConstraints: true, force: false, newCa: false },
  { now: new Date(), creator: 'test', warn: () => undefined });
const access = [
  { account: 'alice', name: '**', actions: ['*' as const] },
  { account: 'bob', name: '**', actions: ['pull' as const] },
  { account: '', name: 'public/**', actions: ['pull' as const] },
];

// The fake upstream: answers 200 (or holds the answer, to fill a share) and records the paths it saw.
const seen: string[] = [];
let hold: (() => void)[] | undefined;
const upstreamServer = http.createServer((req, res) => {
  seen.push(`${req.method} ${req.url}`);
  req.resume();
  const answer = () => {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Docker-Distribution-API-Version': 'registry/2.0' });
    res.end(req.url!.startsWith('/v2/_catalog') ? JSON.stringify({ repositories: ['alice/x', 'public/app'] }) : '{}');
  };
  if (hold) hold.push(answer);
  else answer();
});
await new Promise<void>((r) => upstreamServer.listen(0, '127.0.0.1', r));
const upstreamUrl = `http://127.0.0.1:${(upstreamServer.address() as { port: number }).port}`;
const quiet = pino({ level: 'warn' }, new Writable({ write: (_c, _e, cb) => cb() }));

interface Served { url: string; mode: AuthMode; close: () => Promise<void> }

async function serve(mode: 'htpasswd' | 'token', limits: Record<string, number> = {}): Promise<Served> {
  const config = validateConfig({
    upstream: upstreamUrl, access, limits,
    auth: { mode, htpasswd, ...(mode === 'token' ? { token: { service: 'reg.test', signingKey: join(certs, 'token.key') } } : {}) },
  }, {}, 'test');
  const policy = policyFor(config.access, config.auth.mode);
  const auth = await AUTH_MODES[mode]({
    config, policy, log: quiet, publicOrigin: () => 'https://reg.test', clientAddress,
    throttle: (_name, limit, windowMs) => createThrottle(limit, windowMs),
  });
  const upstream = createUpstream(upstreamUrl, 10_000);
  const handle = createHandler({
    controller: auth.controller, policy, upstream, log: quiet, publicOrigin: () => 'https://reg.test', hostAllowed: () => true,
    shares: createShares({ perAddress: config.limits.upstreamPerAddress, perAccount: config.limits.upstreamPerAccount, anonymous: config.limits.upstreamAnonymous }),
    bodyStallMs: 5000, endpoints: auth.endpoints,
  });
  const server = http.createServer((req, res) => void handle(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url, mode: auth,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      upstream.close();
      await auth.close();
    },
  };
}

interface Reply { status: number; headers: http.IncomingHttpHeaders; body: string }
function call(url: string, opts: { method?: string; headers?: Record<string, string>; from?: string; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers ?? {}, agent: false, ...(opts.from ? { localAddress: opts.from } : {}) }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}
const basic = (user: string) => ({ authorization: `Basic ${Buffer.from(user).toString('base64')}` });
const code = (r: Reply) => JSON.parse(r.body).errors[0].code as string;

const basicGw = await serve('htpasswd');
const tokenGw = await serve('token');
after(async () => {
  await basicGw.close();
  await tokenGw.close();
  upstreamServer.close();
});

test('the request path is a named list of steps, each a plain function', () => {
  assert.deepEqual(STEPS.map(([name]) => name),
    ['health', 'endpoints', 'host', 'route', 'query', 'body', 'headers', 'access', 'authorize', 'mount', 'share', 'uploadOffset', 'tagDelete', 'referrersList', 'referrerPush', 'referrerDelete', 'lists', 'socket', 'forward']);
});

test('htpasswd: every 401 carries the Basic challenge, and nothing reaches the upstream', async () => {
  seen.length = 0;
  const cases: [string, Record<string, string>][] = [
    ['/v2/', {}], ['/v2/', basic('bob:wrong')], ['/v2/', basic('nobody:x')], ['/v2/', { authorization: 'Basic !!!' }],
    ['/v2/', { authorization: 'Bearer abc' }], ['/v2/alice/x/manifests/1', {}],
  ];
  for (const [path, headers] of cases) {
    const r = await call(basicGw.url + path, { headers });
    assert.equal(r.status, 401, `${path} ${JSON.stringify(headers)}`);
    assert.equal(r.headers['www-authenticate'], 'Basic realm="registry-gateway", charset="UTF-8"');
    assert.equal(code(r), 'UNAUTHORIZED');
  }
  assert.deepEqual(seen, []);
});

test('htpasswd: 403 DENIED for an authenticated user beyond the rules; grants reach the upstream', async () => {
  seen.length = 0;
  for (const [method, path] of [['PUT', '/v2/bob/x/manifests/1'], ['DELETE', `/v2/public/app/manifests/sha256:${'a'.repeat(64)}`], ['POST', '/v2/x/blobs/uploads/']]) {
    const r = await call(basicGw.url + path, { method, headers: basic('bob:bob-pw') });
    assert.equal(r.status, 403, `${method} ${path}`);
    assert.equal(code(r), 'DENIED');
  }
  assert.deepEqual(seen, []);
  assert.equal((await call(`${basicGw.url}/v2/alice/x/manifests/1`, { headers: basic('bob:bob-pw') })).status, 200);
  assert.equal((await call(`${basicGw.url}/v2/public/app/manifests/1`)).status, 200, 'anonymous may pull public/**');
  assert.deepEqual(seen, ['GET /v2/alice/x/manifests/1', 'GET /v2/public/app/manifests/1']);
});

test('htpasswd: 429 after 10 failures from one address; another address and cached credentials still pass', async () => {
  assert.equal((await call(`${basicGw.url}/v2/`, { headers: basic('alice:alice-pw'), from: '127.0.0.31' })).status, 200);
  for (let i = 0; i < 10; i++) assert.equal((await call(`${basicGw.url}/v2/`, { headers: basic(`u${i}:bad`), from: '127.0.0.31' })).status, 401);
  // bob's credentials are cached from the test before: a new guess at them is throttled.
  const throttled = await call(`${basicGw.url}/v2/`, { headers: basic('bob:guess'), from: '127.0.0.31' });
  assert.equal(throttled.status, 429);
  assert.ok(Number(throttled.headers['retry-after']) >= 1);
  assert.equal(code(throttled), 'TOOMANYREQUESTS');
  assert.equal((await call(`${basicGw.url}/v2/`, { headers: basic('alice:alice-pw'), from: '127.0.0.31' })).status, 200, 'verified credentials skip the throttle');
  assert.equal((await call(`${basicGw.url}/v2/`, { headers: basic('bob:bob-pw'), from: '127.0.0.31' })).status, 200, 'so do cached ones of another user');
  assert.equal((await call(`${basicGw.url}/v2/`, { headers: basic('bob:guess'), from: '127.0.0.32' })).status, 401, 'another address is not throttled');
});

test('htpasswd: a user under attack refuses the addresses that failed for it, not a clean one', async () => {
  for (const from of ['127.0.0.51', '127.0.0.52', '127.0.0.53']) {
    for (let i = 0; i < 10; i++) await call(`${basicGw.url}/v2/`, { headers: basic(`alice:guess${i}`), from });
  }
  const clean = '127.0.0.54';
  assert.equal((await call(`${basicGw.url}/v2/`, { headers: basic('alice:guess-again'), from: clean })).status, 401, 'a clean address gets its check');
  const tainted = await call(`${basicGw.url}/v2/`, { headers: basic('alice:one-more'), from: clean });
  assert.equal(tainted.status, 429, 'one failure taints it while the user is over its limit');
  assert.equal(code(tainted), 'TOOMANYREQUESTS');
  assert.equal((await call(`${basicGw.url}/v2/`, { headers: basic('alice:alice-pw'), from: '127.0.0.55' })).status, 200, 'the right password from a clean address');
});

test('429 when one address holds its share of upstream requests', async () => {
  const small = await serve('htpasswd', { upstreamPerAddress: 2 });
  hold = [];
  try {
    const held = [call(`${small.url}/v2/public/app/manifests/1`), call(`${small.url}/v2/public/app/manifests/2`)];
    while (hold.length < 2) await new Promise((r) => setTimeout(r, 10));
    const third = await call(`${small.url}/v2/public/app/manifests/3`);
    assert.equal(third.status, 429);
    assert.match(JSON.parse(third.body).errors[0].message, /limits\.upstreamPerAddress/);
    hold.forEach((answer) => answer());
    hold = undefined;
    assert.deepEqual((await Promise.all(held)).map((r) => r.status), [200, 200]);
    assert.equal((await call(`${small.url}/v2/public/app/manifests/3`)).status, 200, 'the share is released');
  } finally {
    hold?.forEach((answer) => answer());
    hold = undefined;
    await small.close();
  }
});

async function token(user: string | undefined, ...scopes: string[]): Promise<string> {
  const q = new URLSearchParams({ service: 'reg.test' });
  scopes.forEach((s) => q.append('scope', s));
  const r = await call(`${tokenGw.url}/token?${q}`, { headers: user ? basic(user) : {} });
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body).token as string;
}

test('token: 401 challenges name realm, service, scope and the error', async () => {
  seen.length = 0;
  const none = await call(`${tokenGw.url}/v2/alice/x/manifests/1`);
  assert.equal(none.status, 401);
  assert.equal(none.headers['www-authenticate'], 'Bearer realm="https://reg.test/token",service="reg.test",scope="repository:alice/x:pull"');
  const bad = await call(`${tokenGw.url}/v2/alice/x/manifests/1`, { headers: { authorization: 'Bearer not.a.token' } });
  assert.match(String(bad.headers['www-authenticate']), /error="invalid_token"/);
  const bobs = await token('bob:bob-pw', 'repository:alice/x:pull,push');
  const push = await call(`${tokenGw.url}/v2/alice/x/manifests/1`, { method: 'PUT', headers: { authorization: `Bearer ${bobs}` } });
  assert.equal(push.status, 401);
  assert.match(String(push.headers['www-authenticate']), /error="insufficient_scope"/);
  const mount = await call(`${tokenGw.url}/v2/alice/y/blobs/uploads/?mount=sha256:${'a'.repeat(64)}&from=public/app`, { method: 'POST' });
  assert.match(String(mount.headers['www-authenticate']), /scope="repository:alice\/y:pull,push repository:public\/app:pull"/);
  assert.deepEqual(seen, []);
  assert.equal((await call(`${tokenGw.url}/v2/alice/x/manifests/1`, { headers: { authorization: `Bearer ${bobs}` } })).status, 200);
});

test('token: /token refuses wrong passwords with 401, then throttles with 429; anonymous gets only what anonymous may', async () => {
  const wrong = await call(`${tokenGw.url}/token?service=reg.test`, { headers: basic('alice:wrong'), from: '127.0.0.41' });
  assert.equal(wrong.status, 401);
  assert.equal(JSON.parse(wrong.body).error, 'invalid_grant');
  for (let i = 0; i < 9; i++) await call(`${tokenGw.url}/token?service=reg.test`, { headers: basic(`x${i}:wrong`), from: '127.0.0.41' });
  const throttled = await call(`${tokenGw.url}/token?service=reg.test`, { headers: basic('bob:guess'), from: '127.0.0.41' });
  assert.equal(throttled.status, 429);
  assert.equal(JSON.parse(throttled.body).errors[0].code, 'TOOMANYREQUESTS');
  const anon = await token(undefined, 'repository:alice/x:pull', 'repository:public/app:pull');
  const claims = JSON.parse(Buffer.from(anon.split('.')[1]!, 'base64url').toString());
  assert.deepEqual(claims.access, [{ type: 'repository', name: 'public/app', actions: ['pull'] }]);
});
