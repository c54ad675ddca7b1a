// OCI distribution 1.1 through the gateway over distribution 2.8 (Debian's
// docker-registry), in htpasswd mode: what the gateway answers itself where
// the upstream falls short (tag deletes, malformed references, chunked
// upload offsets, the referrers API over the referrers tag schema).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { startGateway } from '../helpers/gateway.js';
import { request, type Reply } from '../helpers/https.js';
import { freePort, startRegistry } from '../helpers/registry.js';
import { stage } from '../helpers/stage.js';

const { work, certs, htpasswd, ca, tls } = await stage({ alice: 'alice-pw', bob: 'bob-pw' });
const registry = await startRegistry(work, { storage: join(work, 'storage') });
const access = [
  { account: 'alice', name: '**', actions: ['*'] },
  { account: 'bob', name: '**', actions: ['pull'] },
];
const gw = await startGateway(work, { upstream: registry.url, tls, auth: { mode: 'htpasswd', htpasswd }, access });
after(async () => {
  await gw.stop();
  await registry.stop();
});

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const ALICE = 'alice:alice-pw';
const BOB = 'bob:bob-pw';
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const INDEX = 'application/vnd.oci.image.index.v1+json';
const EMPTY = Buffer.from('{}');

function call(
  method: string, path: string, opts: { user?: string; headers?: Record<string, string>; body?: Buffer | string; base?: string } = {},
): Promise<Reply> {
  const url = path.startsWith('https://') ? path : `${opts.base ?? gw.url}${path}`;
  return request(url, { ca, method, user: opts.user ?? ALICE, headers: opts.headers ?? {}, ...(opts.body !== undefined ? { body: opts.body } : {}) });
}

const relative = (location: string) => new URL(location, gw.url).pathname + new URL(location, gw.url).search;

async function pushBlob(repo: string, blob: Buffer, base = gw.url): Promise<void> {
  const start = await call('POST', `/v2/${repo}/blobs/uploads/`, { base });
  assert.equal(start.status, 202, start.body.toString());
  const loc = new URL(start.headers.location!, base);
  loc.searchParams.set('digest', sha(blob));
  const put = await call('PUT', loc.pathname + loc.search, { base, body: blob, headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(put.status, 201, put.body.toString());
}

/** An image manifest (config the empty JSON), optionally an artifact with a subject. */
async function pushManifest(
  repo: string, ref: string, extra: Record<string, unknown> = {}, base = gw.url,
): Promise<{ digest: string; body: Buffer; reply: Reply }> {
  await pushBlob(repo, EMPTY, base);
  const body = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: MANIFEST,
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha(EMPTY), size: EMPTY.length },
    layers: [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: sha(EMPTY), size: EMPTY.length }],
    ...extra,
  }));
  const reply = await call('PUT', `/v2/${repo}/manifests/${ref}`, { base, body, headers: { 'content-type': MANIFEST } });
  assert.equal(reply.status, 201, reply.body.toString());
  return { digest: sha(body), body, reply };
}

test('DELETE of a manifest by tag: 400 UNSUPPORTED naming delete by digest, and the tag is still there', async () => {
  const { digest } = await pushManifest('alice/del', 'v1');
  const r = await call('DELETE', '/v2/alice/del/manifests/v1');
  assert.equal(r.status, 400);
  const [error] = r.json().errors;
  assert.equal(error.code, 'UNSUPPORTED');
  assert.match(error.message, /delete the manifest by its digest .* removes every tag on it/);
  assert.equal((await call('HEAD', '/v2/alice/del/manifests/v1', { headers: { accept: MANIFEST } })).status, 200, 'not forwarded');
  assert.equal((await call('DELETE', `/v2/alice/del/manifests/${digest}`)).status, 202, 'by digest it is deleted');
  assert.equal((await call('HEAD', '/v2/alice/del/manifests/v1', { headers: { accept: MANIFEST } })).status, 404, 'with every tag on it');
  assert.equal((await call('DELETE', '/v2/alice/del/manifests/v1', { user: BOB })).status, 403, 'authorization comes first');
});

test('a malformed digest is 400 DIGEST_INVALID at the gateway, never the upstream 500, with a body too; a non-tag 404', async () => {
  for (const [path, code, status] of [
    ['/v2/alice/x/manifests/sha256:totallywrong', 'DIGEST_INVALID', 400], ['/v2/alice/x/manifests/sha999:abc', 'DIGEST_INVALID', 400],
    ['/v2/alice/x/manifests/.INVALID_MANIFEST_NAME', 'MANIFEST_UNKNOWN', 404], ['/v2/alice/x/blobs/sha256:0123', 'DIGEST_INVALID', 400],
  ] as const) {
    for (const body of [undefined, '{"not":"a manifest"}']) {
      // Content-Length said: Node does not frame a GET body by itself.
      const headers = { 'content-type': MANIFEST, 'content-length': String(Buffer.byteLength(body ?? '')) };
      const r = await call('GET', path, { ...(body ? { body, headers } : {}) });
      assert.equal(r.status, status, `${path}: ${r.body}`);
      assert.match(String(r.headers['content-type']), /^application\/json/, `${path} ${body} ${JSON.stringify(r.headers)} ${r.body}`);
      assert.equal(r.json().errors[0].code, code, path);
    }
  }
  assert.equal(gw.entries().filter((e) => typeof e.path === 'string' && (e.path as string).includes('totallywrong')).every((e) => e.status === 400), true);
});


test('chunked uploads: out of order and retried chunks 416, GET on a stale upload URL 204 with Range and Location', async () => {
  const blob = Buffer.from('0123456789abcdefghij');
  const [one, two] = [blob.subarray(0, 10), blob.subarray(10)];
  const patch = (location: string, chunk: Buffer, range: string) =>
    call('PATCH', relative(location), { body: chunk, headers: { 'content-type': 'application/octet-stream', 'content-range': range, 'content-length': String(chunk.length) } });

  const other = await call('POST', '/v2/alice/chunks/blobs/uploads/');
  const outOfOrder = await patch(other.headers.location!, two, '10-19');
  assert.equal(outOfOrder.status, 416, outOfOrder.body.toString());
  assert.equal(outOfOrder.json().errors[0].code, 'RANGE_INVALID');
  assert.equal(outOfOrder.headers.range, '0-0');

  const start = await call('POST', '/v2/alice/chunks/blobs/uploads/');
  assert.equal(start.status, 202);
  const first = await patch(start.headers.location!, one, '0-9');
  assert.equal(first.status, 202, first.body.toString());
  assert.equal(first.headers.range, '0-9');
  const retried = await patch(start.headers.location!, one, '0-9');
  assert.equal(retried.status, 416, 'a retried chunk with the URL it was first sent to');
  assert.equal(retried.headers.range, '0-9');
  const skipped = await patch(first.headers.location!, two, '11-20');
  assert.equal(skipped.status, 416, 'a gap, on the current URL');

  const stale = await call('GET', relative(start.headers.location!));
  assert.equal(stale.status, 204);
  assert.equal(stale.headers.range, '0-9');
  assert.equal(relative(stale.headers.location!), relative(first.headers.location!), 'the current URL');
  assert.ok(stale.headers.location!.startsWith(gw.url), 'public');
  assert.equal((await call('GET', relative(start.headers.location!), { user: BOB })).status, 204, 'pull may read it, as distribution has it');

  const second = await patch(stale.headers.location!, two, '10-19');
  assert.equal(second.status, 202, second.body.toString());
  const done = new URL(second.headers.location!);
  done.searchParams.set('digest', sha(blob));
  assert.equal((await call('PUT', done.pathname + done.search, { headers: { 'content-length': '0' } })).status, 201);
  const stored = await call('GET', `/v2/alice/chunks/blobs/${sha(blob)}`);
  assert.deepEqual(stored.body, blob, 'the blob is exactly its two chunks in order');
  assert.equal((await call('GET', relative(second.headers.location!))).status, 404, 'a finished upload is forgotten: the upstream answers');
});

test('referrers over distribution 2.8: OCI-Subject on push, the fallback index listed and filtered, empty for an unknown digest', async () => {
  const plain = await pushManifest('alice/refs', 'v1');
  assert.equal(plain.reply.headers['oci-subject'], undefined, 'no subject, no OCI-Subject');
  assert.equal(plain.reply.headers['docker-content-digest'], plain.digest);
  assert.ok(plain.reply.headers.location!.startsWith(gw.url), `Location is public: ${plain.reply.headers.location}`);
  const subject = { mediaType: MANIFEST, digest: plain.digest, size: plain.body.length };
  const sbom = await pushManifest('alice/refs', 'sbom', {
    artifactType: 'application/spdx+json', subject, annotations: { 'org.example.kind': 'sbom' },
  });
  assert.equal(sbom.reply.headers['oci-subject'], plain.digest);
  const signature = await pushManifest('alice/refs', 'sig', { subject, config: { mediaType: 'application/vnd.example.signature', digest: sha(EMPTY), size: 2 } });
  assert.equal(signature.reply.headers['oci-subject'], plain.digest);
  const indexBody = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, artifactType: 'application/vnd.example.bundle', manifests: [], subject }));
  const index = await call('PUT', `/v2/alice/refs/manifests/${sha(indexBody)}`, { body: indexBody, headers: { 'content-type': INDEX } });
  assert.equal(index.status, 201, index.body.toString());
  assert.equal(index.headers['oci-subject'], plain.digest);

  const listed = await call('GET', `/v2/alice/refs/referrers/${plain.digest}`, { user: BOB });
  assert.equal(listed.status, 200, listed.body.toString());
  assert.equal(listed.headers['content-type'], INDEX);
  assert.equal(listed.headers['oci-filters-applied'], undefined);
  const all = listed.json();
  assert.equal(all.mediaType, INDEX);
  assert.deepEqual(all.manifests, [
    { mediaType: MANIFEST, digest: sbom.digest, size: sbom.body.length, artifactType: 'application/spdx+json', annotations: { 'org.example.kind': 'sbom' } },
    { mediaType: MANIFEST, digest: signature.digest, size: signature.body.length, artifactType: 'application/vnd.example.signature' },
    { mediaType: INDEX, digest: sha(indexBody), size: indexBody.length, artifactType: 'application/vnd.example.bundle' },
  ]);
  const filtered = await call('GET', `/v2/alice/refs/referrers/${plain.digest}?artifactType=application/spdx%2Bjson`);
  assert.equal(filtered.headers['oci-filters-applied'], 'artifactType');
  assert.deepEqual(filtered.json().manifests.map((d: { digest: string }) => d.digest), [sbom.digest]);
  const unknown = await call('GET', `/v2/alice/refs/referrers/sha256:${'1'.repeat(64)}`);
  assert.equal(unknown.status, 200);
  assert.equal(unknown.headers['content-type'], INDEX);
  assert.deepEqual(unknown.json().manifests, []);

  // The referrers tag schema, as the upstream stores it: what clients that write it themselves read too.
  const fallback = `sha256-${plain.digest.slice(7)}`;
  assert.ok((await call('GET', '/v2/alice/refs/tags/list')).json().tags.includes(fallback));
  const viaTag = await call('GET', `/v2/alice/refs/manifests/${fallback}`, { headers: { accept: INDEX } });
  assert.equal(viaTag.json().manifests.length, 3);

  // Access: the list is pull's, writing needs push.
  assert.equal((await call('GET', `/v2/alice/refs/referrers/${plain.digest}`, { user: 'bob:wrong' })).status, 401);
  const denied = await call('PUT', '/v2/alice/refs/manifests/bobs', { user: BOB, body: sbom.body, headers: { 'content-type': MANIFEST } });
  assert.equal(denied.status, 403);
  assert.equal((await call('GET', `/v2/alice/refs/referrers/${plain.digest}`)).json().manifests.length, 3, 'nothing added by a refused push');

  // A referrer deleted by digest leaves the list; the others stay.
  assert.equal((await call('DELETE', `/v2/alice/refs/manifests/${sbom.digest}`, { user: BOB })).status, 403);
  const deleted = await call('DELETE', `/v2/alice/refs/manifests/${sbom.digest}`);
  assert.equal(deleted.status, 202, deleted.body.toString());
  assert.equal((await call('HEAD', `/v2/alice/refs/manifests/${sbom.digest}`, { headers: { accept: MANIFEST } })).status, 404);
  const after = (await call('GET', `/v2/alice/refs/referrers/${plain.digest}`)).json().manifests.map((d: { digest: string }) => d.digest);
  assert.deepEqual(after, [signature.digest, sha(indexBody)]);
});

test('20 referrers pushed in parallel to one subject are all listed', async () => {
  const subject = await pushManifest('alice/many', 'v1');
  const descriptor = { mediaType: MANIFEST, digest: subject.digest, size: subject.body.length };
  const bodies = Array.from({ length: 20 }, (_, i) => Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: MANIFEST, artifactType: 'application/vnd.example.parallel',
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha(EMPTY), size: EMPTY.length },
    layers: [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: sha(EMPTY), size: EMPTY.length }],
    subject: descriptor, annotations: { n: String(i) },
  })));
  const replies = await Promise.all(bodies.map((body) =>
    call('PUT', `/v2/alice/many/manifests/${sha(body)}`, { body, headers: { 'content-type': MANIFEST } })));
  assert.deepEqual(replies.map((r) => [r.status, r.headers['oci-subject']]), replies.map(() => [201, subject.digest]));
  const listed = (await call('GET', `/v2/alice/many/referrers/${subject.digest}`)).json().manifests.map((d: { digest: string }) => d.digest);
  assert.deepEqual([...listed].sort(), bodies.map((b) => sha(b)).sort());
});

test('an upstream with the referrers API of its own is passed through: a gateway in auth.mode none in front of this one', async () => {
  const outerPort = await freePort();
  // This gateway serves OCI 1.1; it builds its URLs for the outer one, whose Host it receives.
  const inner = await startGateway(work, {
    upstream: registry.url, tls, auth: { mode: 'htpasswd', htpasswd }, access, publicUrl: `https://127.0.0.1:${outerPort}`,
  });
  process.env.NODE_EXTRA_CA_CERTS = join(certs, 'ca.crt'); // the outer gateway trusts the inner one's certificate
  let outer;
  try {
    outer = await startGateway(work, { listen: `127.0.0.1:${outerPort}`, upstream: inner.url, tls, auth: { mode: 'none' } });
  } finally {
    delete process.env.NODE_EXTRA_CA_CERTS;
  }
  try {
    const base = outer.url;
    const subject = await pushManifest('alice/through', 'v1', {}, base);
    const referrer = await pushManifest('alice/through', 'sig', {
      artifactType: 'application/vnd.example.sig', subject: { mediaType: MANIFEST, digest: subject.digest, size: subject.body.length },
    }, base);
    assert.equal(referrer.reply.headers['oci-subject'], subject.digest, "the upstream's own OCI-Subject");
    const listed = await call('GET', `/v2/alice/through/referrers/${subject.digest}`, { base });
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.json().manifests.map((d: { digest: string }) => d.digest), [referrer.digest]);
    const tagDelete = await call('DELETE', '/v2/alice/through/manifests/v1', { base });
    assert.equal(tagDelete.json().errors[0].code, 'UNSUPPORTED', "the upstream's own answer");

    // Access-log lines arrive when each response has closed: the last request's first.
    await inner.waitFor((e) => e.msg === 'request' && e.method === 'DELETE' && e.path === '/v2/alice/through/manifests/v1', 0, 10_000);
    const seen = inner.entries().filter((e) => e.msg === 'request').map((e) => `${e.method} ${e.path}`);
    assert.ok(seen.includes(`GET /v2/alice/through/referrers/sha256:${'0'.repeat(64)}`), 'the outer gateway asked once');
    assert.ok(seen.includes(`GET /v2/alice/through/referrers/${subject.digest}`), 'the listing passed through');
    assert.deepEqual(seen.filter((line) => line.includes('/manifests/sha256-')), [], 'the outer gateway kept no fallback index itself');
  } finally {
    await outer.stop();
    await inner.stop();
  }
});
