// The web UI's display helpers (src/web/lib/): sizes, dates, digests,
// platforms, tag orders. Pure functions, run without a browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  daysLeftText, expiryText, formatDate, formatSize, isAttestation, mediaTypeLabel, platformLabel, plural, shortDigest,
} from '../../src/web/lib/format.js';
import { sortTags } from '../../src/web/lib/sort.js';
import type { TagSummary } from '../../src/web/lib/types.js';

test('sizes read in binary units with at most three significant digits', () => {
  assert.equal(formatSize(0), '0 B');
  assert.equal(formatSize(1023), '1023 B');
  assert.equal(formatSize(1024), '1 KiB');
  assert.equal(formatSize(1536), '1.5 KiB');
  assert.equal(formatSize(100 * 1024), '100 KiB'); // not "1 KiB": trailing zeros go only after a point
  assert.equal(formatSize(12345678), '11.8 MiB');
  assert.equal(formatSize(3 * 1024 ** 3), '3 GiB');
  assert.equal(formatSize(5 * 1024 ** 5), '5120 TiB');
  assert.equal(formatSize(-1), '—');
  assert.equal(formatSize(Number.NaN), '—');
});

test('dates are shown in UTC to the minute, and a missing or bad one as a dash', () => {
  assert.equal(formatDate('2024-05-01T10:00:59.999Z'), '2024-05-01 10:00 UTC');
  assert.equal(formatDate('2024-05-01T12:00:00+02:00'), '2024-05-01 10:00 UTC');
  assert.equal(formatDate('1970-01-01T00:00:00Z'), '1970-01-01 00:00 UTC');
  assert.equal(formatDate(null), '—');
  assert.equal(formatDate(undefined), '—');
  assert.equal(formatDate('yesterday'), '—');
});

test('a short digest keeps the algorithm and 12 hex digits', () => {
  assert.equal(shortDigest(`sha256:${'0123456789abcdef'.repeat(4)}`), 'sha256:0123456789ab');
  assert.equal(shortDigest(`sha512:${'f'.repeat(128)}`), `sha512:${'f'.repeat(12)}`);
  assert.equal(shortDigest('nocolon'), 'nocolon');
});

test('platforms are labelled as docker --platform spells them; attestations are recognised', () => {
  assert.equal(platformLabel({ os: 'linux', architecture: 'amd64' }), 'linux/amd64');
  assert.equal(platformLabel({ os: 'linux', architecture: 'arm64', variant: 'v8' }), 'linux/arm64/v8');
  assert.equal(platformLabel({ os: 'linux', architecture: 'arm', variant: '' }), 'linux/arm');
  assert.equal(isAttestation({ os: 'unknown', architecture: 'unknown' }), true);
  assert.equal(isAttestation({ os: 'linux', architecture: 'unknown' }), false);
});

test('counts, media types and certificate days read as sentences', () => {
  assert.equal(plural(1, 'tag'), '1 tag');
  assert.equal(plural(5003, 'repository', 'repositories'), '5,003 repositories');
  assert.equal(mediaTypeLabel('application/vnd.oci.image.index.v1+json'), 'OCI index');
  assert.equal(mediaTypeLabel('application/vnd.docker.distribution.manifest.v2+json'), 'Docker manifest');
  assert.equal(mediaTypeLabel('application/x-custom'), 'application/x-custom');
  assert.equal(daysLeftText(18), '18 days left');
  assert.equal(daysLeftText(1), '1 day left');
  assert.equal(daysLeftText(0), 'expires today');
  assert.equal(daysLeftText(-3), 'expired 3 days ago');
  assert.equal(expiryText(12), 'expires in 12 days');
  assert.equal(expiryText(0), 'expires today');
  assert.equal(expiryText(-1), 'has expired');
});

const tag = (name: string, created: string | null): TagSummary => ({
  name, digest: `sha256:${'a'.repeat(64)}`, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 1, created, platforms: [],
});

test('tags sort by name, or newest first with undated ones last, without changing the loaded list', () => {
  const loaded = [tag('v2', '2024-01-02T00:00:00Z'), tag('b', null), tag('v10', '2024-03-01T00:00:00Z'), tag('a', null), tag('v1', 'garbage')];
  const before = loaded.map((t) => t.name);
  // Byte order, as the registry lists tags (v10 before v2).
  assert.deepEqual(sortTags(loaded, 'name').map((t) => t.name), ['a', 'b', 'v1', 'v10', 'v2']);
  assert.deepEqual(sortTags(loaded, 'created').map((t) => t.name), ['v10', 'v2', 'a', 'b', 'v1']);
  // Number-aware: semver where it parses (none of these do), natural order otherwise.
  assert.deepEqual(sortTags(loaded, 'version').map((t) => t.name), ['a', 'b', 'v1', 'v2', 'v10']);
  const releases = ['v1.10.0', 'v1.2.0', 'v1.1.0', 'latest', 'v1.19.0', 'v1.2.0-rc.1', 'build-500', 'build-50'].map((n) => tag(n, null));
  assert.deepEqual(sortTags(releases, 'version').map((t) => t.name), ['v1.1.0', 'v1.2.0-rc.1', 'v1.2.0', 'v1.10.0', 'v1.19.0', 'build-50', 'build-500', 'latest']);
  assert.deepEqual(loaded.map((t) => t.name), before);
});
