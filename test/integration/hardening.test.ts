// What the gateway authorizes is what the registry executes: the attacks of
// the adversarial review, against a real docker-registry, in htpasswd and
// token mode. alice may do everything, bob may pull everything, carol owns
// carol/** only, anonymous pulls public/**.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { request, type Reply } from '../helpers/https.js';
import { freePort, startRegistry } from '../helpers/registry.js';
import { stage } from '../helpers/stage.js';

const { work, certs, htpasswd, ca, tls } = await stage({ alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw', dave: 'dave-pw' });
const registry = await startRegistry(work, { storage: join(work, 'storage') });
const access = [
  { account: 'alice', name: '**', actions: ['*'] },
  { account: 'dave', name: 'public/**', actions: ['delete'] },
  { account: 'bob', name: '**', actions: ['pull'] },
  { account: '*', name: '${account}/**', actions: ['pull', 'push'] },
  { account: '', name: 'public/**', actions: ['pull'] },
];
const basicGw = await startGateway(work, { upstream: registry.url, tls, auth: { mode: 'htpasswd', htpasswd }, access, timeouts: { bodyStall: 2 } });
const tokenPort = await freePort();
const service = `127.0.0.1:${tokenPort}`;
const tokenGw = await startGateway(work, {
  listen: `127.0.0.1:${tokenPort}`, upstream: registry.url, tls, access,
  auth: { mode: 'token', htpasswd, token: { service, signingKey: join(certs, 'token.key') } },
});
after(async () => {
  await basicGw.stop();
  await tokenGw.stop();
  await registry.stop();
});

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const secretLayer = Buffer.from('alice secret layer');
const SECRET = sha(secretLayer);

/** Straight to the upstream over plain HTTP: what is really stored. */
function direct(method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; location: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(path, registry.url), { method, headers }, (res) => {
      let data = '';
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: data, location: res.headers.location ?? '' }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function pushBlob(repo: string, blob: Buffer): Promise<void> {
  const start = await direct('POST', `/v2/${repo}/blobs/uploads/`);
  assert.equal(start.status, 202);
  const put = await direct('PUT', `${start.location}&digest=${sha(blob)}`, blob, { 'content-type': 'application/octet-stream' });
  assert.equal(put.status, 201, put.body);
}

async function seedImage(repo: string, tags: string[], layer: Buffer): Promise<void> {
  await pushBlob(repo, layer);
  const config = Buffer.from(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`);
  await pushBlob(repo, config);
  const manifest = JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length }],
  });
  for (const tag of tags) {
    const r = await direct('PUT', `/v2/${repo}/manifests/${tag}`, manifest, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
    assert.equal(r.status, 201, r.body);
  }
}

const inTarget = async (repo: string) => (await direct('HEAD', `/v2/${repo}/blobs/${SECRET}`)).status === 200;

before(async () => {
  await seedImage('alice/secret', ['1'], secretLayer);
  await seedImage('alice/other', ['1'], Buffer.from('other'));
  await seedImage('public/app', ['a', 'b', 'c', 'd', 'e'], Buffer.from('public layer'));
  await seedImage('carol/own', ['1'], Buffer.from('carol layer'));
});

/** A request exactly as written: no client library normalises it. */
function raw(gw: GatewayProcess, head: string, body = '', opts: { keepOpen?: boolean; localAddress?: string } = {}): Promise<{ status: number; headers: string; body: string }> {
  return new Promise((resolve, reject) => {
    const sock = tlsConnect({ host: '127.0.0.1', port: gw.port, ca, servername: 'localhost', ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) }, () => {
      sock.write(`${head.replace(/\n/g, '\r\n')}\r\n\r\n${body}`);
    });
    let data = '';
    const done = () => {
      const [headers = '', rest = ''] = data.split('\r\n\r\n');
      resolve({ status: Number(headers.split(' ')[1]), headers, body: rest });
    };
    sock.on('data', (d) => {
      data += d;
      if (opts.keepOpen && data.includes('\r\n\r\n')) {
        done();
        sock.destroy();
      }
    });
    sock.on('end', done);
    sock.on('error', reject);
  });
}

const basicAuth = (user: string) => `Authorization: Basic ${Buffer.from(user).toString('base64')}`;

async function tokenFor(user: string | undefined, ...scopes: string[]): Promise<string> {
  const q = new URLSearchParams({ service });
  scopes.forEach((s) => q.append('scope', s));
  const r = await request(`${tokenGw.url}/token?${q}`, { ca, ...(user ? { user } : {}) });
  assert.equal(r.status, 200, r.body.toString());
  return r.json().token;
}

const modes: { name: string; gw: () => GatewayProcess; auth: (user: string, ...scopes: string[]) => Promise<string> }[] = [
  { name: 'htpasswd', gw: () => basicGw, auth: async (user) => basicAuth(user) },
  { name: 'token', gw: () => tokenGw, auth: async (user, ...scopes) => `Authorization: Bearer ${await tokenFor(user, ...scopes)}` },
];

for (const mode of modes) {
  test(`${mode.name}: a form body cannot carry a mount the gateway never saw`, async () => {
    const auth = await mode.auth('carol:carol-pw', 'repository:carol/m2:pull,push', 'repository:alice/secret:pull');
    const form = `mount=${SECRET}&from=alice/secret`;
    for (const type of ['application/x-www-form-urlencoded', 'Application/X-WWW-Form-Urlencoded; charset=utf-8', 'multipart/form-data; boundary=x']) {
      const r = await raw(mode.gw(), `POST /v2/carol/m2/blobs/uploads/ HTTP/1.1\nHost: localhost\n${auth}\nContent-Type: ${type}\nContent-Length: ${form.length}\nConnection: close`, form);
      assert.equal(r.status, 400, `${type}: ${r.headers}`);
      assert.match(r.body, /"code":"UNSUPPORTED"/);
    }
    assert.equal(await inTarget('carol/m2'), false, 'the secret layer was mounted into carol/m2');
  });

  test(`${mode.name}: a form type Go reads by Unicode rules (NBSP, NEL, U+0130) carries no mount: 202, a plain upload`, async () => {
    const auth = await mode.auth('carol:carol-pw', 'repository:carol/stolen:pull,push', 'repository:alice/secret:pull');
    const FORM = 'application/x-www-form-urlencoded';
    const MULTI = 'multipart/form-data; boundary=b';
    const urlencoded = `mount=${SECRET}&from=alice/secret`;
    const multipart = `--b\r\nContent-Disposition: form-data; name="mount"\r\n\r\n${SECRET}\r\n`
      + '--b\r\nContent-Disposition: form-data; name="from"\r\n\r\nalice/secret\r\n--b--\r\n';
    const variants = [`${FORM}\u00a0`, `${FORM}\u0085`, FORM.replace('i', '\u0130'), `${MULTI}\u00a0`, `\u0085${MULTI}`, MULTI.replace('i', '\u0130')];
    for (const type of variants) {
      const body = type.includes('part/form-data') ? multipart : urlencoded;
      const head = `POST /v2/carol/stolen/blobs/uploads/?digest=sha256:${'1'.repeat(64)} HTTP/1.1\nHost: localhost\n${auth}\n`
        + `Content-Type: ${type}\nContent-Length: ${Buffer.byteLength(body)}\nConnection: close`;
      const r = await raw(mode.gw(), head, body); // written as UTF-8
      assert.equal(r.status, 202, `${JSON.stringify(type)}: ${r.headers}`);
      assert.match(r.headers, /location: \S+\/v2\/carol\/stolen\/blobs\/uploads\//i, 'an upload session, not a mounted blob');
    }
    assert.equal(await inTarget('carol/stolen'), false, "alice's layer was mounted into carol/stolen");
  });

  test(`${mode.name}: ambiguous queries are refused, not guessed at`, async () => {
    const auth = await mode.auth('carol:carol-pw', 'repository:carol/m3:pull,push', 'repository:alice/secret:pull', 'repository:carol/x:pull');
    for (const query of [
      `mount=${SECRET}&from=carol/x%zz&from=alice/secret`, // Go skips the pair it cannot decode
      `mount=${SECRET}&from=carol/own&from=alice/secret`, // Go takes the first, others the last
      `mount=${SECRET};from=alice/secret`, // ';' was a separator once
      `mount=${SECRET}&from=alice%2Fsecret&from=carol/own`,
      `mount=${SECRET}&from=alice/secret&digest=${SECRET}&digest=sha256:${'0'.repeat(64)}`,
    ]) {
      const r = await raw(mode.gw(), `POST /v2/carol/m3/blobs/uploads/?${query} HTTP/1.1\nHost: localhost\n${auth}\nContent-Length: 0\nConnection: close`);
      assert.equal(r.status, 400, `${query}: ${r.headers}`);
    }
    const manifestWithDigest = await raw(mode.gw(), `GET /v2/carol/own/manifests/1?digest=${SECRET} HTTP/1.1\nHost: localhost\n${auth}\nConnection: close`);
    assert.equal(manifestWithDigest.status, 400, 'a parameter of another route is refused');
    assert.equal(await inTarget('carol/m3'), false);
  });

  test(`${mode.name}: a mount from a repository the caller cannot pull is a plain upload, existing or not`, async () => {
    const auth = await mode.auth('carol:carol-pw', 'repository:carol/m4:pull,push', 'repository:alice/secret:pull', 'repository:alice/none:pull');
    const answers: number[] = [];
    for (const from of ['alice/secret', 'alice/none']) {
      const r = await raw(mode.gw(), `POST /v2/carol/m4/blobs/uploads/?mount=${SECRET}&from=${from} HTTP/1.1\nHost: localhost\n${auth}\nContent-Length: 0\nConnection: close`);
      answers.push(r.status);
    }
    assert.deepEqual(answers, [202, 202], 'no oracle: the answer does not depend on whether the digest exists there');
    // Without from, some registries search every repository (zot CVE-2024-39897).
    const noFrom = await raw(mode.gw(), `POST /v2/carol/m4/blobs/uploads/?mount=${SECRET} HTTP/1.1\nHost: localhost\n${auth}\nContent-Length: 0\nConnection: close`);
    assert.equal(noFrom.status, 202);
    assert.equal(await inTarget('carol/m4'), false);
  });

  test(`${mode.name}: catalog pages and cursors hold only names the caller may see; n is capped`, async () => {
    const anon = mode.name === 'token' ? `Authorization: Bearer ${await tokenFor(undefined, 'registry:catalog:*')}` : '';
    const first = await raw(mode.gw(), `GET /v2/_catalog?n=1 HTTP/1.1\nHost: localhost\n${anon}\nConnection: close`.replace('\n\n', '\n'));
    assert.equal(first.status, 200, first.headers);
    assert.deepEqual(JSON.parse(first.body).repositories, ['public/app']);
    assert.doesNotMatch(first.headers, /alice|carol/, 'no private name in the Link cursor');
    // A cursor the caller chose does not reveal what lies beyond it either.
    const probe = await raw(mode.gw(), `GET /v2/_catalog?n=5&last=alice/other HTTP/1.1\nHost: localhost\n${anon}\nConnection: close`.replace('\n\n', '\n'));
    assert.deepEqual(JSON.parse(probe.body).repositories, ['public/app']);
    // carol walks page by page and sees exactly her own and the public names.
    const carol = await mode.auth('carol:carol-pw', 'registry:catalog:*');
    const seen: string[] = [];
    let next = '/v2/_catalog?n=1';
    for (let i = 0; i < 10 && next; i++) {
      const r = await raw(mode.gw(), `GET ${next} HTTP/1.1\nHost: localhost\n${carol}\nConnection: close`);
      seen.push(...JSON.parse(r.body).repositories);
      next = /<([^>]+)>; rel="next"/.exec(r.headers)?.[1] ?? '';
    }
    assert.ok(seen.includes('carol/own'), seen.join());
    assert.ok(seen.every((n) => n.startsWith('carol/')), `carol saw ${seen.join()}`);
    assert.equal(new Set(seen).size, seen.length);
    const huge = await raw(mode.gw(), `GET /v2/_catalog?n=100000000 HTTP/1.1\nHost: localhost\n${carol}\nConnection: close`);
    assert.equal(huge.status, 200);
    for (const bad of ['n=-1', 'n=1e3', 'n=x', 'n=1&n=2']) {
      assert.equal((await raw(mode.gw(), `GET /v2/_catalog?${bad} HTTP/1.1\nHost: localhost\n${carol}\nConnection: close`)).status, 400, bad);
    }
  });

  test(`${mode.name}: tag lists are paginated by the gateway, with capped n`, async () => {
    const auth = await mode.auth('bob:bob-pw', 'repository:public/app:pull');
    const tags: string[] = [];
    let next = '/v2/public/app/tags/list?n=2';
    for (let i = 0; i < 10 && next; i++) {
      const r = await raw(mode.gw(), `GET ${next} HTTP/1.1\nHost: localhost\n${auth}\nConnection: close`);
      assert.equal(r.status, 200, r.headers);
      const body = JSON.parse(r.body);
      assert.equal(body.name, 'public/app');
      assert.ok(body.tags.length <= 2);
      tags.push(...body.tags);
      next = /<([^>]+)>; rel="next"/.exec(r.headers)?.[1] ?? '';
    }
    assert.deepEqual(tags, ['a', 'b', 'c', 'd', 'e']);
    const after = await raw(mode.gw(), `GET /v2/public/app/tags/list?last=c HTTP/1.1\nHost: localhost\n${auth}\nConnection: close`);
    assert.deepEqual(JSON.parse(after.body).tags, ['d', 'e']);
  });

  test(`${mode.name}: delete by tag needs delete, and nothing else`, async () => {
    const dave = await mode.auth('dave:dave-pw', 'repository:public/app:delete');
    const daveAsks = await raw(mode.gw(), `DELETE /v2/public/app/manifests/zz HTTP/1.1\nHost: localhost\n${dave}\nConnection: close`);
    assert.ok(![401, 403].includes(daveAsks.status), `delete-only dave was refused: ${daveAsks.headers}`);
    const davePull = await raw(mode.gw(), `GET /v2/public/app/manifests/a HTTP/1.1\nHost: localhost\n${dave}\nConnection: close`);
    assert.ok([401, 403].includes(davePull.status), 'delete does not grant pull');
    for (const [user, repo] of [['bob:bob-pw', 'public/app'], ['carol:carol-pw', 'carol/own']] as const) {
      const auth = await mode.auth(user, `repository:${repo}:pull,push,delete`);
      const r = await raw(mode.gw(), `DELETE /v2/${repo}/manifests/1 HTTP/1.1\nHost: localhost\n${auth}\nConnection: close`);
      assert.ok([401, 403].includes(r.status), `${user} deleted ${repo} with pull/push only: ${r.status}`);
    }
    if (mode.name === 'token') {
      const challenge = await raw(mode.gw(), 'DELETE /v2/public/app/manifests/a HTTP/1.1\nHost: localhost\nConnection: close');
      assert.match(challenge.headers, /scope="repository:public\/app:delete"/);
    }
    assert.equal((await direct('HEAD', '/v2/public/app/manifests/a', undefined, { accept: 'application/vnd.oci.image.manifest.v1+json' })).status, 200);
  });

  test(`${mode.name}: a body on a route that takes none is refused at once`, async () => {
    const anon = mode.name === 'token' ? `Authorization: Bearer ${await tokenFor(undefined)}\n` : '';
    const started = Date.now();
    const r = await raw(mode.gw(), `GET /v2/public/app/tags/list HTTP/1.1\nHost: localhost\n${anon}Content-Length: 100000`, 'xx', { keepOpen: true });
    assert.equal(r.status, 400);
    assert.match(r.headers, /connection: close/i);
    const base = await raw(mode.gw(), `GET /v2/ HTTP/1.1\nHost: localhost\n${anon}Transfer-Encoding: chunked`, '2\r\nxx\r\n', { keepOpen: true });
    assert.ok(base.status === 400 || base.status === 401, `GET /v2/ with a body: ${base.status}`);
    assert.ok(Date.now() - started < 5000);
  });
}

test('260 anonymous slow bodies do not stall an authenticated pull or /healthz', async () => {
  const sockets: import('node:tls').TLSSocket[] = [];
  try {
    // From three addresses: one alone would meet limits.connectionsPerAddress first.
    const answered = await Promise.all(Array.from({ length: 260 }, (_, i) => new Promise<number>((resolve, reject) => {
      const tcp = netConnect({ host: '127.0.0.1', port: basicGw.port, localAddress: `127.0.0.${10 + (i % 3)}` });
      const sock = tlsConnect({ socket: tcp, ca, servername: 'localhost' }, () => {
        sock.write('GET /v2/public/app/tags/list HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\nxx');
      });
      sockets.push(sock);
      sock.once('data', (d) => resolve(Number(String(d).split(' ')[1])));
      sock.on('error', reject);
    })));
    assert.ok(answered.every((s) => s === 400), `answers: ${[...new Set(answered)]}`);
    const started = Date.now();
    const pull = await request(`${basicGw.url}/v2/alice/secret/blobs/${SECRET}`, { ca, user: 'alice:alice-pw' });
    assert.equal(pull.status, 200);
    assert.equal((await request(`${basicGw.url}/healthz`, { ca })).status, 200);
    assert.ok(Date.now() - started < 2000, `pull took ${Date.now() - started} ms`);
  } finally {
    sockets.forEach((s) => s.destroy());
  }
});

test('one address holds at most its share of upstream requests; a stalled body is cut', async () => {
  // carol starts 70 uploads from one address and trickles nothing after 2 bytes.
  const starts: Reply[] = [];
  for (let i = 0; i < 7; i++) {
    starts.push(...await Promise.all(Array.from({ length: 10 }, () => request(`${basicGw.url}/v2/carol/slow/blobs/uploads/`, { ca, method: 'POST', user: 'carol:carol-pw' }))));
  }
  assert.ok(starts.every((r) => r.status === 202));
  const sockets: import('node:tls').TLSSocket[] = [];
  // Each PATCH ends in an answer (the 429s, at once) or in the stall cut
  // (closed unanswered after bodyStall): waited for as events, never by a clock.
  const answers: (number | 'cut')[] = [];
  const ended = Promise.all(starts.map((s) => new Promise<number | 'cut'>((resolve) => {
    const location = new URL(s.headers.location!, basicGw.url);
    const sock = tlsConnect({ host: '127.0.0.1', port: basicGw.port, ca, servername: 'localhost' }, () => {
      sock.write(`PATCH ${location.pathname}${location.search} HTTP/1.1\r\nHost: localhost\r\n${basicAuth('carol:carol-pw')}\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\nxx`);
    });
    sockets.push(sock);
    let done = false;
    const end = (answer: number | 'cut') => {
      if (done) return;
      done = true;
      answers.push(answer);
      resolve(answer);
    };
    sock.once('data', (d) => end(Number(String(d).split(' ')[1])));
    sock.once('close', () => end('cut'));
    sock.on('error', () => undefined);
  })));
  try {
    // limits.upstreamPerAddress: an eighth of the 256 sockets by default.
    const deadline = Date.now() + 60_000;
    while (answers.filter((a) => a === 429).length < 70 - 32 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // Another account from another address is not affected while carol's 32 are held.
    const other: Reply = await request(`${basicGw.url}/v2/alice/secret/manifests/1`, { ca, user: 'alice:alice-pw', localAddress: '127.0.0.2', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(other.status, 200);
    const statuses = await ended;
    assert.equal(statuses.filter((s) => s === 429).length, 70 - 32, `statuses: ${statuses.join(',')}`);
    assert.equal(statuses.filter((s) => s === 'cut').length, 32, `statuses: ${statuses.join(',')}`);
    // The stalled bodies were cut after timeouts.bodyStall (2 s here), freeing the share.
    const after = await request(`${basicGw.url}/v2/carol/own/manifests/1`, { ca, user: 'carol:carol-pw', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(after.status, 200);
    await basicGw.waitFor((e) => e.msg === 'request body stalled or trickling; closing the connection');
  } finally {
    sockets.forEach((s) => s.destroy());
  }
});

test('token mode: /healthz and challenges reveal nothing about the upstream or foreign hosts', async () => {
  const h = await request(`${tokenGw.url}/healthz`, { ca });
  assert.equal(h.status, 200);
  assert.doesNotMatch(h.body.toString(), new RegExp(`${registry.port}|127\\.0\\.0\\.1`), 'the upstream address is not told');
  // Without publicUrl, the realm follows only Hosts the certificate names.
  const evil = await raw(tokenGw, 'GET /v2/public/app/tags/list HTTP/1.1\nHost: evil.example:1234\nConnection: close');
  assert.equal(evil.status, 400);
  assert.doesNotMatch(evil.headers, /evil/);
  const good = await raw(tokenGw, `GET /v2/public/app/tags/list HTTP/1.1\nHost: localhost:${tokenPort}\nConnection: close`);
  assert.equal(good.status, 401);
  assert.match(good.headers, new RegExp(`realm="https://localhost:${tokenPort}/token"`));
});

test('with publicUrl, upload Locations point at it whatever Host the client sent', async () => {
  const port = await freePort();
  const gw = await startGateway(work, { listen: `127.0.0.1:${port}`, publicUrl: 'https://localhost:5443', upstream: registry.url, tls, auth: { mode: 'htpasswd', htpasswd }, access });
  try {
    const r = await raw(gw, `POST /v2/carol/loc/blobs/uploads/ HTTP/1.1\nHost: evil.example:1234\n${basicAuth('carol:carol-pw')}\nContent-Length: 0\nConnection: close`);
    assert.equal(r.status, 202, r.headers);
    const location = /location: (\S+)/i.exec(r.headers)?.[1] ?? '';
    assert.match(location, /^https:\/\/localhost:5443\/v2\/carol\/loc\/blobs\/uploads\//);
  } finally {
    await gw.stop();
  }
});

test("after every attack above, the registry's storage links alice's secret layer into no repository of carol's", async () => {
  const repos = join(work, 'storage', 'docker', 'registry', 'v2', 'repositories', 'carol');
  const linked: string[] = [];
  for (const repo of await readdir(repos)) {
    const layers = await readdir(join(repos, repo, '_layers', 'sha256')).catch(() => [] as string[]);
    if (layers.includes(SECRET.slice('sha256:'.length))) linked.push(`carol/${repo}`);
  }
  assert.ok((await readdir(repos)).length >= 3, 'the attacks above reached the registry');
  assert.deepEqual(linked, [], `alice's layer is linked into ${linked.join(', ')}`);
});
