// Property: whatever reaches the upstream is covered by the decision the
// gateway made. fast-check generates request targets, query strings,
// headers and bodies for every route; each is sent raw (no client library
// normalises it) through a real gateway to a recording upstream, and every
// request the upstream receives is checked against the access rules on
// their own: its repositories, its action, its parameters, its body.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { connect as tlsConnect } from 'node:tls';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { rulesPolicy } from '../../src/auth/policy.js';
import { type Action } from '../../src/registry/access.js';
import { parametersFor } from '../../src/registry/query.js';
import { parseRoute } from '../../src/registry/routes.js';
import { takesBody } from '../../src/registry/body.js';
import { REGISTRY_REQUEST_HEADERS } from '../../src/proxy/passes.js';
import { gateway as gatewayCli } from '../helpers/exec.js';
import { startGateway } from '../helpers/gateway.js';
import { freePort } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';

const work = await tempDir();
const certs = join(work, 'certs');
const htpasswd = join(work, 'htpasswd');
assert.equal((await gatewayCli(['certs', 'init', '--dir', certs, '--host', 'localhost', '--host', '127.0.0.1'])).code, 0);
const USERS: Record<string, string> = { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw' };
for (const [user, pw] of Object.entries(USERS)) {
  assert.equal((await gatewayCli(['users', 'add', user, '--password-stdin', '--min-length', '1', '--file', htpasswd, '--cost', '4'], { input: pw })).code, 0);
}
const ca = await readFile(join(certs, 'ca.crt'), 'utf8');
const rules = [
  { account: 'alice', name: '**', actions: ['*' as const] },
  { account: 'bob', name: '**', actions: ['pull' as const] },
  { account: '*', name: '${account}/**', actions: ['pull' as const, 'push' as const] },
  { account: '', name: 'public/**', actions: ['pull' as const] },
];
const policy = rulesPolicy(rules);
const may = (account: string, name: string, action: Action) => policy(account, { type: 'repository', name, actions: [action] });

interface Seen { method: string; url: string; headers: http.IncomingHttpHeaders; bodyBytes: number }
const seen: Seen[] = [];
const upstreamPort = await freePort();
const upstream = http.createServer((req, res) => {
  let bodyBytes = 0;
  req.on('data', (c: Buffer) => (bodyBytes += c.length));
  req.on('end', () => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers, bodyBytes });
    const path = req.url!.split('?')[0]!;
    const body = path === '/v2/_catalog' ? { repositories: ['alice/secret', 'bob/app', 'carol/x', 'public/app'] }
      : path.endsWith('/tags/list') ? { name: path.slice(4, -10), tags: ['1', '2'] } : {};
    res.writeHead(200, { 'Content-Type': 'application/json', 'Docker-Distribution-API-Version': 'registry/2.0' });
    res.end(JSON.stringify(body));
  });
}).listen(upstreamPort, '127.0.0.1');
const gw = await startGateway(work, {
  upstream: `http://127.0.0.1:${upstreamPort}`,
  tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') },
  auth: { mode: 'htpasswd', htpasswd },
  access: rules,
});
after(async () => {
  await gw.stop();
  upstream.close();
});

function send(head: string, body: string): Promise<number> {
  return new Promise((resolve) => {
    const sock = tlsConnect({ host: '127.0.0.1', port: gw.port, ca, servername: 'localhost' }, () => sock.write(head + body));
    let data = '';
    const timer = setTimeout(() => sock.destroy(), 3000);
    sock.on('data', (d) => (data += d));
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(Number(data.split(' ')[1]) || 0);
    });
    sock.on('error', () => undefined);
  });
}

const D = `sha256:${'a'.repeat(64)}`;
// Weighted towards requests a real client could send, so that many reach
// the upstream; the hostile variants are mixed in at every position.
const w = <T>(weight: number, arb: fc.Arbitrary<T>) => ({ weight, arbitrary: arb });
const names = fc.oneof(w(8, fc.constantFrom('alice/secret', 'bob/app', 'carol/x', 'public/app')),
  w(2, fc.constantFrom('a/../alice/secret', 'Alice/x', 'carol%2fx', 'carol/x/../../alice/secret', 'carol//x')));
const reference = fc.oneof(w(8, fc.constantFrom('1', 'latest', D)), w(1, fc.constantFrom('bad tag', '..')));
const target = fc.oneof(
  fc.constant('/v2/'),
  fc.constant('/v2/_catalog'),
  fc.tuple(names, reference).map(([n, r]) => `/v2/${n}/manifests/${r}`),
  names.map((n) => `/v2/${n}/blobs/${D}`),
  names.map((n) => `/v2/${n}/blobs/uploads/`),
  names.map((n) => `/v2/${n}/blobs/uploads/u-1`),
  names.map((n) => `/v2/${n}/tags/list`),
  names.map((n) => `/v2/${n}/referrers/${D}`),
);
const sensible = fc.constantFrom(`mount=${D}&from=alice/secret`, `mount=${D}&from=carol/x`, `mount=${D}&from=public/app`, `mount=${D}`, 'from=carol/x',
  `digest=${D}`, '_state=abc', `_state=abc&digest=${D}`, 'n=1', 'n=1&last=bob/app', 'last=1', 'artifactType=application/json', 'x=1', `from=alice/secret&mount=${D}&x=y`);
const queryKey = fc.constantFrom('n', 'last', 'mount', 'from', 'digest', '_state', 'artifactType', 'x', 'Mount', 'from%00', 'fr%6fm');
const queryValue = fc.constantFrom('', '1', '1000000', D, 'alice/secret', 'carol/x', 'public/app', 'alice%2Fsecret', '%zz', 'a;from=alice/secret', 'x+y', 'application/json');
const hostile = fc.array(fc.tuple(queryKey, queryValue), { minLength: 1, maxLength: 5 }).chain((pairs) =>
  fc.constantFrom('&', ';', '&&').map((sep) => pairs.map(([k, v]) => `${k}=${v}`).join(sep)));
const query = fc.oneof(w(6, fc.constant('')), w(4, sensible), w(2, hostile));
const user = fc.oneof(w(6, fc.constantFrom('alice', 'bob', 'carol')), w(1, fc.constantFrom(undefined, 'carol:wrong')));
const contentType = fc.oneof(w(8, fc.constantFrom(undefined, 'application/octet-stream')), w(2, fc.constantFrom('application/x-www-form-urlencoded',
  'Multipart/Form-Data; boundary=b', ' application/x-www-form-urlencoded ; charset=utf-8', 'application/vnd.oci.image.manifest.v1+json')));
const body = fc.oneof(w(8, fc.constant('')), w(3, fc.constantFrom('x', `mount=${D}&from=alice/secret`, '{}')));
const extra = fc.oneof(w(5, fc.constant<string[]>([])),
  w(2, fc.subarray(['X-Forwarded-Host: evil.example', 'Forwarded: host=evil', 'X-Original-URL: /v2/alice/secret/manifests/1', 'Transfer-Encoding: chunked'])));
const method = fc.oneof(w(4, fc.constant('GET')), w(1, fc.constantFrom('HEAD', 'DELETE', 'OPTIONS')), w(2, fc.constantFrom('POST', 'PUT', 'PATCH')));

/** What the upstream received must be a request the rules allow, in the shape the route defines. */
function check(account: string, req: Seen): void {
  const [path = '', rawQuery = ''] = req.url.split('?');
  const route = parseRoute(path);
  if (route.kind === 'invalid') return assert.fail(`the upstream got an invalid path ${req.url}`);
  const params = new URLSearchParams(rawQuery);
  const allowed = route.kind === 'catalog' || (route.kind === 'repository' && route.resource === 'tags') ? new Set(['n', 'last']) : parametersFor(req.method, route, path);
  for (const key of new Set(params.keys())) {
    assert.ok(allowed.has(key), `parameter ${key} reached the upstream on ${req.method} ${req.url}`);
    assert.equal(params.getAll(key).length, 1, `parameter ${key} twice on ${req.url}`);
  }
  assert.ok(!rawQuery.includes(';') && !/%(?![0-9A-F]{2})/i.test(rawQuery), `an ambiguous query reached the upstream: ${rawQuery}`);
  assert.equal(req.headers.authorization, undefined, 'client credentials reached the upstream');
  assert.ok(!/form/i.test(String(req.headers['content-type'] ?? '')), 'a form body reached the upstream');
  assert.ok([undefined, req.headers.host].includes(req.headers['x-forwarded-host'] as string | undefined), 'a forwarding header of the client reached the upstream');
  const forwarding = new Set(['x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-for']);
  for (const name of Object.keys(req.headers)) assert.ok(REGISTRY_REQUEST_HEADERS.has(name) || forwarding.has(name), `header ${name} reached the upstream`);
  assert.equal(req.headers.forwarded, undefined);
  if (route.kind === 'base') return assert.ok(req.method === 'GET' || req.method === 'HEAD');
  if (route.kind === 'catalog') return assert.ok(req.method === 'GET');
  if (route.kind !== 'repository') return;
  const action: Action = req.method === 'DELETE' ? 'delete' : req.method === 'GET' || req.method === 'HEAD' ? 'pull' : 'push';
  assert.ok(may(account, route.name, action), `${account || 'anonymous'} may not ${action} ${route.name}, yet ${req.method} ${req.url} reached the upstream`);
  if (action === 'push') assert.ok(may(account, route.name, 'pull'));
  const from = params.get('from');
  if (from !== null || params.has('mount')) {
    assert.ok(from !== null && params.has('mount'), 'mount without from (or from without mount) reached the upstream');
    assert.ok(may(account, from, 'pull'), `${account} mounted from ${from}, which it may not pull`);
  }
  if (!takesBody(req.method, route, path, new Map(params))) assert.equal(req.bodyBytes, 0, `a body reached the upstream on ${req.method} ${req.url}`);
}

test('every request that reaches the upstream is one the rules allow, in the shape the route defines', async (t) => {
  let reached = 0;
  let refused = 0;
  let run = 0;
  const accounts = new Map<string, string>();
  await fc.assert(fc.asyncProperty(method, target, query, user, contentType, body, extra, async (m, t, q, u, ct, b, headers) => {
    seen.length = 0;
    const account = u && !u.includes(':') ? u : '';
    accounts.set(`property-${run + 1}`, account);
    const auth = u ? `Authorization: Basic ${Buffer.from(u.includes(':') ? u : `${u}:${USERS[u]}`).toString('base64')}\r\n` : '';
    const chunked = headers.includes('Transfer-Encoding: chunked');
    run++;
    const head = `${m} ${t}${q ? `?${q}` : ''} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: property-${run}\r\n${auth}${ct ? `Content-Type: ${ct}\r\n` : ''}`
      + `${headers.map((h) => `${h}\r\n`).join('')}${chunked ? '' : `Content-Length: ${b.length}\r\n`}Connection: close\r\n\r\n`;
    const status = await send(head, chunked ? `${b ? `${b.length.toString(16)}\r\n${b}\r\n` : ''}0\r\n\r\n` : b);
    // Only what this request caused: a late record of an earlier one is not its.
    const mine = seen.filter((r) => r.headers['user-agent'] === `property-${run}`);
        if (mine.length === 0) refused++;
    else reached++;
    // Every record is checked against the account of the request that caused it.
    for (const r of seen) check(accounts.get(String(r.headers['user-agent'])) ?? '', r);
    if (mine.length > 0) assert.ok(status < 400 || status === 404 || status === 405, `the upstream was asked (${mine.map((r) => `${r.method} ${r.url}`).join(', ')}), then ${status}`);
  }), { numRuns: Number(process.env.PROPERTY_RUNS ?? 500), includeErrorInReport: true, seed: process.env.PROPERTY_SEED ? Number(process.env.PROPERTY_SEED) : undefined });
  // The generators must exercise both sides, or the property says little.
  t.diagnostic(`reached the upstream: ${reached}, refused by the gateway: ${refused}`);
  assert.ok(reached > 30 && refused > 30, `reached ${reached}, refused ${refused}`);
});
