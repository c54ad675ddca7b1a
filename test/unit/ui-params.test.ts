// The web UI API's inputs and shapes (src/ui/params.ts, images.ts,
// repositories.ts): names and references by the registry's grammar,
// pagination cursors, the config fields shown, a tag's summary, and the
// bounded concurrency of upstream reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkParams, cursor, digest, isRepositoryName, page, pageSize, reference, repositoryName } from '../../src/ui/params.js';
import { CONFIG_BUDGET, FIELD_MAX, limiter, mapLimit, parseConfig, TRUNCATED, type Index, type IndexEntry } from '../../src/ui/images.js';
import { fitted } from '../../src/ui/manifest.js';
import { summarize } from '../../src/ui/repositories.js';
import { UiError } from '../../src/ui/reply.js';

const q = (s: string) => new URLSearchParams(s);
const refused = (fn: () => unknown, code: string, name: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof UiError && e.status === 400 && e.code === code && name.test(e.message));

test('names and references: the registry grammar, every refusal naming the parameter', () => {
  assert.equal(repositoryName(q('name=library/alpine')), 'library/alpine');
  assert.equal(repositoryName(q('name=a.b_c__d-e/f')), 'a.b_c__d-e/f');
  for (const bad of ['', 'Upper', '../etc', 'a//b', '/a', 'a/', 'a/../b', 'a%2fb', 'a b', `${'a'.repeat(256)}`, 'a/manifests/../../x']) {
    refused(() => repositoryName(q(`name=${encodeURIComponent(bad)}`)), 'NAME_INVALID', /'name'/);
  }
  refused(() => repositoryName(q('')), 'NAME_INVALID', /'name' is required/);
  assert.equal(reference(q('ref=v1.0')), 'v1.0');
  assert.equal(reference(q(`ref=sha256:${'a'.repeat(64)}`)), `sha256:${'a'.repeat(64)}`);
  for (const bad of ['.hidden', '-x', 'a/b', 'a:b:c', `${'t'.repeat(129)}`, '../x', 'sha256:']) {
    refused(() => reference(q(`ref=${encodeURIComponent(bad)}`)), 'REFERENCE_INVALID', /'ref'/);
  }
  assert.equal(digest(q(`digest=sha256:${'0'.repeat(64)}`)), `sha256:${'0'.repeat(64)}`);
  refused(() => digest(q('digest=latest')), 'DIGEST_INVALID', /'digest'/);
  refused(() => checkParams(q('name=a&x=1'), ['name']), 'BAD_PARAMETER', /unknown parameter 'x'/);
  refused(() => checkParams(q('name=a&name=b'), ['name']), 'BAD_PARAMETER', /'name' given twice/);
  assert.ok(isRepositoryName('a/b/c'));
});

test('pages: n from 1 to the maximum, last an entry of the list, next the last item shown', () => {
  assert.equal(pageSize(q(''), 100, 1000), 100);
  assert.equal(pageSize(q('n=1000'), 100, 1000), 1000);
  for (const bad of ['0', '1001', '-1', '1.5', 'x', '']) refused(() => pageSize(q(`n=${bad}`), 100, 1000), 'PAGINATION_INVALID', /'n'/);
  refused(() => cursor(q('last=..%2F'), isRepositoryName, 'repository name'), 'PAGINATION_INVALID', /'last'/);
  assert.equal(cursor(q(''), isRepositoryName, 'x'), undefined);
  const names = Array.from({ length: 2500 }, (_, i) => `repo-${String(i).padStart(4, '0')}`);
  const seen: string[] = [];
  let last: string | undefined;
  for (;;) {
    const p = page(names, last, 1000);
    seen.push(...p.items);
    if (p.next === null) break;
    assert.equal(p.next, p.items.at(-1));
    last = p.next;
  }
  assert.deepEqual(seen, names, 'every entry once, past 1,000');
  assert.deepEqual(page(names, 'repo-2499', 10), { items: [], next: null });
  assert.deepEqual(page(names, 'repo-0000x', 2), { items: ['repo-0001', 'repo-0002'], next: 'repo-0002' }, 'a cursor between entries');
  assert.deepEqual(page(['a', 'b'], undefined, 2), { items: ['a', 'b'], next: null }, 'an exact last page has no next');
});

test('config: the fields shown, whatever else the config holds or lacks', () => {
  const c = parseConfig(Buffer.from(JSON.stringify({
    created: '2026-01-15T10:00:00Z', os: 'linux', architecture: 'arm64', variant: 'v8',
    config: { Entrypoint: ['/bin/app'], Cmd: ['--serve'], Env: ['A=1'], Labels: { x: 'y', n: 3 }, WorkingDir: '/srv', User: '1000' },
    history: [{ created: '2026-01-15T10:00:00Z', created_by: 'COPY app /bin/', empty_layer: false }, { comment: 'c', empty_layer: true }],
    rootfs: { type: 'layers', diff_ids: [] },
  })));
  assert.deepEqual(c, {
    created: '2026-01-15T10:00:00Z', os: 'linux', architecture: 'arm64', entrypoint: ['/bin/app'], cmd: ['--serve'], env: ['A=1'],
    labels: { x: 'y' }, workingDir: '/srv', user: '1000',
    history: [
      { created: '2026-01-15T10:00:00Z', createdBy: 'COPY app /bin/', emptyLayer: false, comment: null },
      { created: null, createdBy: null, emptyLayer: true, comment: 'c' },
    ],
    truncated: false,
  });
  const bare = parseConfig(Buffer.from('{}'));
  assert.deepEqual(bare, { created: null, os: null, architecture: null, entrypoint: null, cmd: null, env: [], labels: {}, workingDir: null, user: null, history: [], truncated: false });
  assert.throws(() => parseConfig(Buffer.from('not json')), (e: UiError) => e.status === 502);
});

test('a tag\'s summary: an index\'s platforms without attestations, its newest creation date, the size over its platforms', () => {
  const config = (created: string | null) => ({ ...parseConfig(Buffer.from('{}')), created });
  const index: Index = {
    kind: 'index', digest: 'sha256:1', mediaType: 'application/vnd.oci.image.index.v1+json', size: 300,
    platforms: [
      { digest: 'sha256:a', mediaType: 'm', platform: { os: 'linux', architecture: 'amd64' }, size: 100, layers: [], config: config('2026-01-01T00:00:00Z'), annotations: {}, loaded: true },
      { digest: 'sha256:b', mediaType: 'm', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, size: 150, layers: [], config: config('2026-02-01T00:00:00Z'), annotations: {}, loaded: true },
      { digest: 'sha256:c', mediaType: 'm', platform: { os: 'unknown', architecture: 'unknown' }, size: 50, layers: [], config: null, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' }, loaded: false },
    ],
    entries: 3,
  };
  assert.deepEqual(summarize('v1', index), {
    name: 'v1', digest: 'sha256:1', mediaType: 'application/vnd.oci.image.index.v1+json', size: 300, created: '2026-02-01T00:00:00Z',
    platforms: [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' }],
  });
  assert.deepEqual(summarize('v2', { kind: 'image', digest: 'sha256:2', mediaType: 'x', size: 9, layers: [], layerCount: 0, config: null, platform: null }),
    { name: 'v2', digest: 'sha256:2', mediaType: 'x', size: 9, created: null, platforms: [] });
});

test('bounded concurrency: at most n at once, results in order', async () => {
  let running = 0;
  let most = 0;
  const task = async (i: number) => {
    running++;
    most = Math.max(most, running);
    await new Promise((r) => setTimeout(r, 2));
    running--;
    return i * 2;
  };
  assert.deepEqual(await mapLimit(Array.from({ length: 40 }, (_, i) => i), 8, task), Array.from({ length: 40 }, (_, i) => i * 2));
  assert.equal(most, 8);
  most = 0;
  const run = limiter(3);
  await Promise.all(Array.from({ length: 20 }, (_, i) => run(() => task(i))));
  assert.equal(most, 3);
});

test('a config as shown is bounded: created_by cut to 4 KiB and marked, the whole within its budget', () => {
  // The reviewer's config: nearly all one created_by of 4 MB, and many more entries.
  const huge = 'x'.repeat(4_000_000);
  const body = Buffer.from(JSON.stringify({
    os: 'linux', architecture: 'amd64',
    config: { Env: Array.from({ length: 5000 }, (_, i) => `V${i}=${'e'.repeat(100)}`), Labels: { big: 'l'.repeat(10_000) } },
    history: [{ created_by: huge }, ...Array.from({ length: 10_000 }, () => ({ created_by: 'RUN true' }))],
  }));
  const c = parseConfig(body);
  assert.equal(c.truncated, true);
  assert.ok(JSON.stringify(c).length < CONFIG_BUDGET * 1.5, `shown: ${JSON.stringify(c).length} characters`);
  assert.ok(c.env.length > 0 && c.env.length < 5000, 'env filled until the budget was spent');
  const small = parseConfig(Buffer.from(JSON.stringify({ history: [{ created_by: huge }] })));
  assert.equal(small.history[0]!.createdBy, 'x'.repeat(FIELD_MAX) + TRUNCATED);
  assert.equal(small.truncated, true);
});

test('an answer over the ceiling gives back its platforms read in full, last first, until it fits', () => {
  const config = { ...parseConfig(Buffer.from('{}')), env: ['A='.padEnd(4000, 'a')] };
  const entry = (i: number): IndexEntry => ({
    digest: `sha256:${String(i).padStart(64, '0')}`, mediaType: 'm', platform: null, size: 1, layers: [], config, annotations: {}, loaded: true,
  });
  const answer = { name: 'x', platforms: Array.from({ length: 16 }, (_, i) => entry(i)) };
  const cut = fitted(answer, 30_000);
  assert.ok(JSON.stringify(cut).length <= 30_000);
  assert.equal(cut.platforms[0]!.loaded, true, 'the first stay in full');
  assert.equal(cut.platforms[15]!.loaded, false);
  assert.equal(cut.platforms[15]!.config, null);
  assert.deepEqual(fitted(answer), answer, 'one that fits is unchanged');
});
