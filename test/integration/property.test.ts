// Property: whatever the registry would execute is covered by the decision
// the gateway made. fast-check generates hostile requests for every route,
// byte by byte (every byte in header values, Unicode spaces, characters whose
// Unicode lowercase is ASCII, quoted media type parameters, odd query
// encodings, chunked bodies with extensions and trailers); each is sent raw
// through a real gateway to the Go oracle (test/oracle), which reads it with
// Go's net/http, url, mime and FormValue as distribution does. Go's view of
// every forwarded request is checked against the access rules on their own.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect } from 'node:tls';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { rulesPolicy } from '../../src/auth/policy.js';
import { type Action } from '../../src/registry/access.js';
import { parametersFor } from '../../src/registry/query.js';
import { parseRoute } from '../../src/registry/routes.js';
import { takesBody } from '../../src/registry/body.js';
import { gateway as gatewayCli } from '../helpers/exec.js';
import { startGateway } from '../helpers/gateway.js';
import { startOracle, type GoView } from '../helpers/oracle.js';
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

const oracle = await startOracle(work);
const gw = await startGateway(work, {
  upstream: oracle.url,
  tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') },
  auth: { mode: 'htpasswd', htpasswd },
  access: rules,
  limits: { connectionsPerAddress: 1000, upstreamPerAddress: 64 },
});
after(async () => {
  await gw.stop();
  oracle.stop();
});

// One TLS session, resumed by every connection: the cost per case is the request, not the handshake.
let session: Buffer | undefined;
function send(request: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const sock = tlsConnect({ host: '127.0.0.1', port: gw.port, ca, servername: 'localhost', ...(session ? { session } : {}) }, () => sock.write(request));
    sock.once('session', (s: Buffer) => (session ??= s));
    let head = '';
    const timer = setTimeout(() => sock.destroy(), 10_000);
    sock.on('data', (d: Buffer) => (head ||= d.toString('latin1')));
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(Number(head.split(' ')[1]) || 0);
    });
    sock.on('error', () => undefined);
  });
}

const D = `sha256:${'a'.repeat(64)}`;
const utf8 = (s: string) => Buffer.from(s, 'utf8');
const w = <T>(weight: number, arb: fc.Arbitrary<T>) => ({ weight, arbitrary: arb });

// Unicode White_Space: Go's strings.TrimSpace removes every one of them.
const WHITE_SPACE = [0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680, ...Array.from({ length: 11 }, (_, i) => 0x2000 + i),
  0x2028, 0x2029, 0x202f, 0x205f, 0x3000].map((c) => String.fromCodePoint(c));
// Characters Go's strings.ToLower turns into ASCII: İ -> i, K (Kelvin) -> k.
const FOLDS: Record<string, string> = { i: '\u0130', k: '\u212a', I: '\u0130', K: '\u212a' };

/** A header value as bytes, with Unicode around or inside it. */
const unicodeTwist = (value: string) => fc.oneof(
  w(3, fc.constant(utf8(value))),
  w(2, fc.tuple(fc.constantFrom(...WHITE_SPACE), fc.boolean()).map(([sp, before]) => utf8(before ? sp + value : value + sp))),
  w(2, fc.nat().map((n) => {
    const at = [...value].map((c, i) => (FOLDS[c] ? i : -1)).filter((i) => i >= 0);
    if (at.length === 0) return utf8(value);
    const i = at[n % at.length]!;
    return utf8(value.slice(0, i) + FOLDS[value[i]!] + value.slice(i + 1));
  })),
);
/** Any single byte, 0x00-0xFF, somewhere in a value. */
const byteInside = (value: string) => fc.tuple(fc.integer({ min: 0, max: 255 }), fc.nat({ max: value.length }))
  .map(([b, at]) => Buffer.concat([Buffer.from(value.slice(0, at), 'latin1'), Buffer.from([b]), Buffer.from(value.slice(at), 'latin1')]));
const hostileValue = (value: string) => fc.oneof(w(4, fc.constant(utf8(value))), w(3, unicodeTwist(value)), w(2, byteInside(value)));

const FORM = 'application/x-www-form-urlencoded';
const MULTIPART = 'multipart/form-data; boundary=b';
const mediaTypes = fc.constantFrom(FORM, MULTIPART, 'Multipart/Form-Data; boundary="b"', `${FORM}; charset=utf-8`, `${FORM}; a=1; a=2`,
  `${FORM}; x="a;b"; ===`, 'application/octet-stream', 'application/vnd.oci.image.manifest.v1+json', 'text/plain; q="\\"x"', '');

type Header = [string, Buffer];
const header = (name: string, values: fc.Arbitrary<Buffer>) => values.map((v): Header => [name, v]);
const headers: fc.Arbitrary<Header[]> = fc.array(fc.oneof(
  w(6, header('Content-Type', mediaTypes.chain(hostileValue))),
  w(2, header('Accept', fc.constantFrom('application/vnd.oci.image.index.v1+json', 'application/json;q=0.5, */*', 'a/b; x="1,2"').chain(hostileValue))),
  w(2, header('Range', fc.constantFrom('bytes=0-1', 'bytes=0-1,5-', 'bytes=-5').chain(hostileValue))),
  w(1, header('Content-Range', fc.constantFrom('0-0', '0-99').chain(hostileValue))),
  w(1, header('If-None-Match', fc.constantFrom(`"${D}"`, '*', 'W/"x"').chain(hostileValue))),
  w(1, header('If-Modified-Since', fc.constantFrom('Sun, 06 Nov 1994 08:49:37 GMT').chain(hostileValue))),
  w(1, header('User-Agent', fc.constantFrom('curl/8', 'docker/27').chain(hostileValue))),
  w(1, header('Mount', fc.constant(utf8(D)))),
  w(1, fc.constantFrom<Header>(['X-Forwarded-Host', utf8('evil.example')], ['Forwarded', utf8('host=evil')],
    ['X-Original-URL', utf8('/v2/alice/secret/manifests/1')], ['Expect', utf8('100-continue')], ['Connection', utf8('x-secret')])),
), { maxLength: 3 });

const formBody = `mount=${D}&from=alice/secret&digest=${D}&n=1&last=x`;
const multipartBody = ['mount', D, 'from', 'alice/secret'].reduce((acc, v, i, a) => (i % 2 ? acc
  : `${acc}--b\r\nContent-Disposition: form-data; name="${v}"\r\n\r\n${a[i + 1]}\r\n`), '') + '--b--\r\n';
const bodies = fc.oneof(w(5, fc.constant('')), w(4, fc.constantFrom('x', formBody, multipartBody, '{}')));
// Chunked framing: extensions on the size line, trailers (a Content-Type among them) after the last chunk.
const chunking = fc.oneof(w(2, fc.constant(null)), w(1, fc.record({
  ext: fc.constantFrom('', ';a=b', ';x="y"', `;mount=${D}`),
  trailers: fc.subarray([`Content-Type: ${FORM}`, 'X-T: 1', `Mount: ${D}`]),
  declare: fc.boolean(),
})));

const names = fc.oneof(w(8, fc.constantFrom('alice/secret', 'bob/app', 'carol/x', 'public/app')),
  w(2, fc.constantFrom('a/../alice/secret', 'Alice/x', 'carol%2fx', 'carol/x/../../alice/secret', 'carol//x')));
const reference = fc.oneof(w(8, fc.constantFrom('1', 'latest', D)), w(1, fc.constantFrom('bad tag', '..')));
// Each path with the methods and queries a client would use on it; others now and then.
type Target = [string, string[], string[]];
const LIST = ['n=1', 'n=1&last=bob/app', 'last=1'];
const UPLOAD = [`mount=${D}&from=alice/secret`, `mount=${D}&from=carol/x`, `mount=${D}&from=public/app`, `mount=${D}`, `digest=${D}`,
  `digest=${D}&mount=${D}&from=carol/x`];
const target: fc.Arbitrary<Target> = fc.oneof(
  fc.constant<Target>(['/v2/', ['GET'], ['']]),
  fc.constant<Target>(['/v2/_catalog', ['GET'], LIST]),
  fc.tuple(names, reference).map(([n, r]): Target => [`/v2/${n}/manifests/${r}`, ['GET', 'HEAD', 'PUT', 'DELETE'], ['']]),
  names.map((n): Target => [`/v2/${n}/blobs/${D}`, ['GET', 'HEAD', 'DELETE'], ['']]),
  w(3, names.map((n): Target => [`/v2/${n}/blobs/uploads/`, ['POST'], UPLOAD])),
  w(2, names.map((n): Target => [`/v2/${n}/blobs/uploads/u-1`, ['PATCH', 'PUT', 'GET', 'DELETE'], ['_state=abc', `_state=abc&digest=${D}`]])),
  names.map((n): Target => [`/v2/${n}/tags/list`, ['GET'], LIST]),
  names.map((n): Target => [`/v2/${n}/referrers/${D}`, ['GET'], ['artifactType=application/json']]),
);
const sensible = fc.constantFrom(...UPLOAD, ...LIST, 'from=carol/x', '_state=abc', 'artifactType=application/json', 'x=1',
  `from=alice/secret&mount=${D}&x=y`);
// Percent-encoded and oddly cased names, '+', encoded separators, repeats.
const queryKey = fc.constantFrom('n', 'last', 'mount', 'from', 'digest', '_state', 'artifactType', 'x', 'Mount', 'FROM', 'from%00', 'fr%6fm',
  '%6dount', 'm%6Funt', 'from%20', '+from', 'mount%3D');
const queryValue = fc.constantFrom('', '1', '1000000', D, 'alice/secret', 'carol/x', 'public/app', 'alice%2Fsecret', '%zz', 'a;from=alice/secret',
  'x+y', 'application/json', `${D}%26from%3Dalice/secret`, 'carol/x%00', 'alice/secret%20', '%2Balice/secret');
const hostile = fc.array(fc.tuple(queryKey, queryValue), { minLength: 1, maxLength: 5 }).chain((pairs) =>
  fc.constantFrom('&', ';', '&&').map((sep) => pairs.map(([k, v]) => `${k}=${v}`).join(sep)));
const query = (own: string[]) => fc.oneof(w(3, fc.constant('')), w(6, fc.constantFrom(...own)), w(2, sensible), w(3, hostile));
const user = fc.oneof(w(12, fc.constantFrom('alice', 'bob', 'carol')), w(1, fc.constantFrom(undefined, 'carol:wrong')));
const anyMethod = fc.constantFrom('GET', 'HEAD', 'DELETE', 'OPTIONS', 'POST', 'PUT', 'PATCH');

const one = fc.tuple(target, fc.record({ user, headers })).chain(([[path, methods, queries], rest]) =>
  fc.oneof(w(6, fc.constantFrom(...methods)), w(1, anyMethod)).chain((method) => {
    const sends = ['PUT', 'PATCH', 'POST'].includes(method);
    return fc.record({
      query: query(queries),
      body: sends ? bodies : fc.oneof(w(8, fc.constant('')), w(1, bodies)),
      chunking: sends ? chunking : fc.oneof(w(8, fc.constant(null)), w(1, chunking)),
    }).map((more) => ({ method, target: path, ...rest, ...more }));
  }));
type Case = typeof one extends fc.Arbitrary<infer T> ? T : never;

/** The request as bytes; its User-Agent tag ties what Go saw to it. */
function bytesOf(c: Case, tag: string): Buffer {
  const auth = c.user ? `Authorization: Basic ${Buffer.from(c.user.includes(':') ? c.user : `${c.user}:${USERS[c.user]}`).toString('base64')}\r\n` : '';
  const body = Buffer.from(c.body, 'latin1');
  // A hostile User-Agent rides after the tag (Node keeps only the first User-Agent line).
  const agent = c.headers.find(([name]) => name === 'User-Agent')?.[1];
  const lines: Buffer[] = [Buffer.from(`${c.method} ${c.target}${c.query ? `?${c.query}` : ''} HTTP/1.1\r\nHost: localhost:${gw.port}\r\n`
    + `User-Agent: ${tag}${agent ? ' ' : ''}`, 'latin1'), agent ?? Buffer.alloc(0), Buffer.from(`\r\n${auth}`, 'latin1')];
  for (const [name, value] of c.headers) if (name !== 'User-Agent') lines.push(Buffer.from(`${name}: `, 'latin1'), value, Buffer.from('\r\n'));
  if (!c.chunking) {
    lines.push(Buffer.from(`Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`), body);
    return Buffer.concat(lines);
  }
  const { ext, trailers, declare } = c.chunking;
  const chunks = body.length ? [`${body.length.toString(16)}${ext}\r\n`, body.toString('latin1'), '\r\n'].join('') : '';
  lines.push(Buffer.from(`Transfer-Encoding: chunked\r\n${declare ? 'Trailer: Content-Type, X-T, Mount\r\n' : ''}Connection: close\r\n\r\n`
    + `${chunks}0${ext}\r\n${trailers.map((t) => `${t}\r\n`).join('')}\r\n`, 'latin1'));
  return Buffer.concat(lines);
}

const VISIBLE_ASCII = /^[\t\x20-\x7e]*$/;
const FORWARDED = new Set(['User-Agent', 'Accept', 'Range', 'If-None-Match', 'If-Match', 'If-Modified-Since', 'Content-Range', 'Content-Type',
  'Content-Length', 'X-Forwarded-Proto', 'X-Forwarded-Host', 'X-Forwarded-For', 'Connection', 'Traceparent']);
/** The gateway's own traceparent (proxy/trace.ts): version 00, a trace ID, the gateway's span, flags. */
const TRACEPARENT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
const MEDIA_TYPE = /^[a-z0-9!#$%&'*+.^_`|~-]+\/[a-z0-9!#$%&'*+.^_`|~-]+$/;

/** Go's view of one forwarded request must be one the rules allow, in the shape the route defines, and nothing else. */
function check(account: string, r: GoView): void {
  const where = `${r.method} ${r.path}?${r.rawQuery}`;
  assert.equal(r.rawPath, '', `an encoded path reached the upstream: ${where}`);
  const route = parseRoute(r.path);
  if (route.kind === 'invalid') return assert.fail(`the upstream got an invalid path: ${where}`);
  const resource = route.kind === 'repository' ? route.resource : undefined;
  // What distribution executes: the action on the repository, and a mount source from FormValue (body first).
  if (route.kind === 'repository') {
    const action: Action = r.method === 'DELETE' ? 'delete' : r.method === 'GET' || r.method === 'HEAD' ? 'pull' : 'push';
    assert.ok(may(account, route.name, action), `${account || 'anonymous'} may not ${action} ${route.name}, yet Go got ${where}`);
    if (action === 'push') assert.ok(may(account, route.name, 'pull'));
    const { mount, from } = r.formValues;
    if (mount || from) {
      assert.ok(may(account, from, 'pull'), `${account} mounted ${mount} from ${from}, which it may not pull: Go read ${where} `
        + `with Content-Type ${JSON.stringify(r.header['Content-Type'])} and a ${r.bodyBytes}-byte body`);
    }
  }
  // Query and form as Go merges them: nothing may come from the body.
  assert.deepEqual(r.form ?? {}, r.query, `Go's form holds values the query does not: ${JSON.stringify(r.form)} on ${where}`);
  for (const [key, value] of Object.entries(r.formValues)) assert.equal(value, r.query[key]?.[0] ?? '', `FormValue(${key}) on ${where}`);
  assert.equal(r.formError, '', `Go failed to read a form: ${where}`);
  const lists = route.kind === 'catalog' || resource === 'tags';
  const allowed = lists ? new Set(['n', 'last']) : parametersFor(r.method, route, r.path);
  for (const [key, values] of Object.entries(r.query)) {
    assert.ok(allowed.has(key), `parameter ${JSON.stringify(key)} reached the upstream: ${where}`);
    assert.equal(values.length, 1, `parameter ${key} twice: ${where}`);
  }
  if (route.kind === 'repository') {
    const mount = r.query.mount?.[0];
    const from = r.query.from?.[0];
    if (mount !== undefined || from !== undefined) {
      assert.ok(mount !== undefined && from !== undefined, `mount without from (or from without mount): ${where}`);
      assert.equal(r.bodyBytes, 0, `a mount carried a body: ${where}`);
    }
    const params = new Map(Object.entries(r.query).map(([k, v]) => [k, v[0]!]));
    if (!takesBody(r.method, route, r.path, params)) assert.equal(r.bodyBytes, 0, `a body reached the upstream on ${where}`);
  } else {
    assert.ok(r.method === 'GET' || (route.kind === 'base' && r.method === 'HEAD'), where);
    assert.equal(r.bodyBytes, 0);
  }
  // Headers: only those the gateway writes, all visible ASCII; no trailers.
  for (const [name, values] of Object.entries(r.header)) {
    assert.ok(FORWARDED.has(name), `header ${name} reached the upstream: ${where}`);
    for (const v of values) assert.match(v, VISIBLE_ASCII, `header ${name} holds ${JSON.stringify(v)}: ${where}`);
  }
  assert.deepEqual(r.trailer ?? {}, {}, `trailers reached the upstream: ${where}`);
  for (const v of r.header.Traceparent ?? []) assert.match(v, TRACEPARENT, `traceparent ${JSON.stringify(v)}: ${where}`);
  assert.equal(r.host, `localhost:${gw.port}`);
  assert.deepEqual(r.header['X-Forwarded-Host'], [r.host]);
  // Content-Type: the gateway's own on uploads, a plain manifest type on manifest PUT, none elsewhere.
  const types = r.header['Content-Type'];
  if (resource === 'uploads' && ['POST', 'PATCH', 'PUT'].includes(r.method)) {
    assert.deepEqual(types, ['application/octet-stream'], where);
  } else if (resource === 'manifests' && r.method === 'PUT' && types) {
    assert.equal(types.length, 1);
    assert.match(r.mediaType, MEDIA_TYPE, where);
    assert.equal(r.mediaError, '');
    assert.ok(r.mediaType !== 'application/x-www-form-urlencoded' && !r.mediaType.startsWith('multipart/'), `a form type on ${where}`);
  } else {
    assert.equal(types, undefined, `Content-Type ${types} reached the upstream: ${where}`);
  }
}

const BATCH = Number(process.env.PROPERTY_BATCH ?? 16);
// The review's three variants (NBSP, NEL, U+0130), urlencoded and multipart, tried on every run.
const REVIEW: Case[] = [`${FORM}\u00a0`, `${FORM}\u0085`, FORM.replace('i', '\u0130'), `${MULTIPART}\u00a0`, `\u0085${MULTIPART}`,
  MULTIPART.replace('i', '\u0130'), FORM, MULTIPART].map((type) => ({
  method: 'POST', target: '/v2/carol/stolen/blobs/uploads/', query: `digest=sha256:${'1'.repeat(64)}`, user: 'carol',
  headers: [['Content-Type', utf8(type)]], body: type.includes('part/form-data') ? multipartBody : formBody, chunking: null,
}));
const RUNS = Number(process.env.PROPERTY_RUNS ?? 1000);

test('every request Go would execute is one the rules allow, in the shape the route defines', async (t) => {
  let reached = 0;
  let refused = 0;
  let run = 0;
  const started = Date.now();
  await fc.assert(fc.asyncProperty(fc.array(one, { minLength: BATCH, maxLength: BATCH }), async (cases) => {
    run++;
    const tags = cases.map((_, i) => `p-${run}-${i}`);
    const statuses = await Promise.all(cases.map((c, i) => send(bytesOf(c, tags[i]!))));
    const views = await oracle.records();
    const index = views.map((view) => {
      const tag = /^p-(\d+)-(\d+)(?: |$)/.exec(view.header['User-Agent']?.[0] ?? '');
      assert.ok(tag && Number(tag[1]) === run, `a record the gateway forwarded cannot be told apart: ${JSON.stringify(view.header['User-Agent'])}`);
      const c = cases[Number(tag[2])]!;
      check(c.user && !c.user.includes(':') ? c.user : '', view);
      return Number(tag[2]);
    });
    for (const i of tags.keys()) {
      // The gateway's own reads (proxy/upstreamApi.ts's probe) are checked above like any request, but are not the client's.
      const mine = views.filter((view, v) => index[v] === i && !view.header['User-Agent']?.[0]?.endsWith(' (registry-gateway)'));
      const tag = tags[i];
      assert.ok(mine.length <= 1, `one request became ${mine.length} upstream requests`);
      if (mine.length === 0) refused++;
      else reached++;
      const status = statuses[i]!;
      if (mine.length > 0) assert.ok(status < 400 || status === 404 || status === 405, `the upstream was asked (${tag}), then ${status}`);
    }
  }), { numRuns: RUNS, examples: [[REVIEW]], includeErrorInReport: true, seed: process.env.PROPERTY_SEED ? Number(process.env.PROPERTY_SEED) : undefined });
  // The generators must exercise both sides, or the property says little.
  t.diagnostic(`${RUNS * BATCH} cases in ${((Date.now() - started) / 1000).toFixed(1)} s: reached the upstream ${reached}, refused by the gateway ${refused}`);
  assert.ok(reached > RUNS && refused > RUNS, `reached ${reached}, refused ${refused}`);
});
