import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { fallbackTag, referrerOf, referrersIndex } from '../../src/proxy/referrers.js';
import { classifyProbe } from '../../src/proxy/upstreamApi.js';

const D = `sha256:${'ab'.repeat(32)}`;
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const INDEX = 'application/vnd.oci.image.index.v1+json';

test('the fallback tag of a digest, as the referrers tag schema names it', () => {
  assert.equal(fallbackTag(D), `sha256-${'ab'.repeat(32)}`);
  assert.equal(fallbackTag(`sha512:${'c'.repeat(128)}`), `sha512-${'c'.repeat(64)}`);
});

test('a referrer: its subject, and its descriptor with artifactType (else the config type) and annotations', () => {
  const body = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: MANIFEST, config: { mediaType: 'application/x.sig', digest: D, size: 2 }, layers: [],
    subject: { mediaType: MANIFEST, digest: D, size: 10 }, annotations: { a: 'b', n: 1 },
  }));
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  assert.deepEqual(referrerOf(body, undefined), {
    subject: D, descriptor: { mediaType: MANIFEST, digest, size: body.length, artifactType: 'application/x.sig', annotations: { a: 'b' } },
  });
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [], subject: { digest: D } }));
  assert.equal(referrerOf(index, INDEX)?.descriptor.mediaType, INDEX, 'the media type from Content-Type when the body has none');
  assert.equal(referrerOf(index, INDEX)?.descriptor.artifactType, undefined);
  for (const bad of ['not json', '{"subject":{"digest":"sha256:short"}}', JSON.stringify({ mediaType: 'application/x.other', subject: { digest: D } }), '{}']) {
    assert.equal(referrerOf(Buffer.from(bad), MANIFEST), undefined, bad);
  }
});

test('the referrers index filters by artifactType and says so', () => {
  const list = [{ mediaType: MANIFEST, digest: D, size: 1, artifactType: 'a' }, { mediaType: MANIFEST, digest: D, size: 2 }];
  assert.equal(JSON.parse(referrersIndex(list, undefined).body.toString()).manifests.length, 2);
  const filtered = referrersIndex(list, 'a');
  assert.equal(filtered.filtered, true);
  assert.deepEqual(JSON.parse(filtered.body.toString()), { schemaVersion: 2, mediaType: INDEX, manifests: [list[0]] });
});

test("the upstream's answer to the probe: an index or a registry error is an API, 2.8's plain 404 none, the rest unknown", () => {
  assert.equal(classifyProbe(200, `${INDEX}; charset=utf-8`, Buffer.from('{}')), 'oci-1.1');
  assert.equal(classifyProbe(404, 'application/json', Buffer.from('{"errors":[{"code":"NAME_UNKNOWN"}]}')), 'oci-1.1');
  assert.equal(classifyProbe(404, 'text/plain; charset=utf-8', Buffer.from('404 page not found\n')), 'distribution-2');
  assert.equal(classifyProbe(404, 'application/json', Buffer.from('not json')), 'distribution-2');
  for (const status of [401, 403, 500, 503]) assert.equal(classifyProbe(status, 'application/json', Buffer.from('{}')), 'unknown');
});
