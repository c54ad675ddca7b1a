// Browsing a registry of realistic size in the web UI (headless Chromium,
// the storage-written fixture of test/helpers/storageSeed.ts: 1,005
// repositories, 500 tags build-001 … build-500 dated in that order, 36
// semver tags): newest first across every tag with the dates filled in
// under a bound per request, version order on the server and in the page,
// Back that keeps the list, its order and its scroll, the tag filter,
// namespaces that collapse, and an index page that starts with its platforms.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { eventually } from '../helpers/eventually.js';
import { request } from '../helpers/https.js';
import { shownTags, startLargeUi } from '../helpers/largeUi.js';
import { AGAIN_TAGS, LARGE_REPOSITORIES, LONG_TAG } from '../helpers/storageSeed.js';
import { DATE_FILL } from '../../src/ui/repositories.js';

const ui = await startLargeUi();
const { open, login } = ui;
const ALL_REPOSITORIES = LARGE_REPOSITORIES + 5; // big/tags, big/again, semver/app, semver/lib, wide/app
const SEMVER = Array.from({ length: 36 }, (_, i) => `v1.${i}.0`);

async function apiCookie(): Promise<string> {
  const r = await request(`${ui.origin}/ui/api/session`, {
    ca: ui.s.ca, method: 'POST', headers: { origin: ui.origin, 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: 'admin-pw' }),
  });
  assert.equal(r.status, 200, r.body.toString());
  return String(r.headers['set-cookie']).split(';')[0]!;
}

async function clickMore(page: Page, times: number, list: string): Promise<void> {
  for (let i = 0; i < times; i++) {
    const before = await page.locator(list).count();
    await page.getByRole('button', { name: 'Load more' }).click();
    await eventually(async () => assert.ok((await page.locator(list).count()) > before), 30_000);
  }
}

/** Whether the element is inside the viewport now. */
const inView = (page: Page, selector: string) => page.locator(selector).evaluate((e) => {
  const r = e.getBoundingClientRect();
  return r.top >= 0 && r.bottom <= window.innerHeight;
});

test('the API: newest first across every tag, reading at most DATE_FILL dates a request and saying how many are pending', async () => {
  const cookie = await apiCookie();
  const get = async (path: string) => {
    const r = await request(`${ui.origin}${path}`, { ca: ui.s.ca, headers: { cookie } });
    assert.equal(r.status, 200, r.body.toString());
    return r.json();
  };
  let pending = AGAIN_TAGS;
  const seen: number[] = [];
  let page;
  do {
    page = await get('/ui/api/repositories/tags?name=big/again&sort=created&n=5');
    assert.equal(page.pending, Math.max(0, pending - DATE_FILL), `each request reads ${DATE_FILL} more: ${seen.join(' ')} ${page.pending}`);
    pending = page.pending;
    seen.push(pending);
  } while (pending > 0);
  assert.equal(seen.length, Math.ceil(AGAIN_TAGS / DATE_FILL));
  assert.deepEqual(page.tags.map((t: { name: string }) => t.name), ['build-500', 'build-499', 'build-498', 'build-497', 'build-496']);
  const next = await get(`/ui/api/repositories/tags?name=big/again&sort=created&n=5&last=${page.next}`);
  assert.deepEqual(next.tags.map((t: { name: string }) => t.name), ['build-495', 'build-494', 'build-493', 'build-492', 'build-491']);

  // Version order on the server, and its cursor.
  const first = await get('/ui/api/repositories/tags?name=semver/app&sort=version&n=12');
  assert.deepEqual(first.tags.map((t: { name: string }) => t.name), SEMVER.slice(0, 12));
  const second = await get(`/ui/api/repositories/tags?name=semver/app&sort=version&n=12&last=${first.next}`);
  assert.deepEqual(second.tags.map((t: { name: string }) => t.name), SEMVER.slice(12, 24));
  // The filter, on the server: every tag of the 500 is searched.
  const filtered = await get('/ui/api/repositories/tags?name=big/tags&q=build-49&sort=version');
  assert.deepEqual(filtered.tags.map((t: { name: string }) => t.name), Array.from({ length: 10 }, (_, i) => `build-49${i}`));
  assert.equal(filtered.total, 10);
  const bad = await request(`${ui.origin}/ui/api/repositories/tags?name=big/tags&sort=size`, { ca: ui.s.ca, headers: { cookie } });
  assert.equal(bad.status, 400);
  assert.match(bad.json().error.message, /'sort' is one of name, version, created/);
});

test('"Newest first" on 500 tags: build-500 on top (not the newest of the first 50), and the page says while dates are read', async (t) => {
  const w = await open(t);
  const { page } = w;
  await login(page, 'admin');
  await page.goto('/ui/repo?name=big/tags');
  assert.deepEqual((await shownTags(page)).slice(0, 3), ['build-001', 'build-002', 'build-003']);
  await page.getByRole('button', { name: 'Newest first' }).click();
  await page.getByTestId('dates-pending').waitFor();
  assert.match(await page.getByTestId('tag-count').innerText(), /reading creation dates, \d+ to go/);
  await eventually(async () => assert.equal(await page.getByTestId('dates-pending').count(), 0), 60_000);
  assert.deepEqual((await shownTags(page)).slice(0, 5), ['build-500', 'build-499', 'build-498', 'build-497', 'build-496']);
  assert.equal(await page.getByRole('button', { name: 'Newest first' }).getAttribute('aria-pressed'), 'true');
  w.assertClean();
});

test('version order: v1.2.0 before v1.10.0 in the tag list, the manifest page\'s chips and the delete dialog', async (t) => {
  const w = await open(t);
  const { page } = w;
  await login(page, 'admin');
  await page.goto('/ui/repo?name=semver/app');
  await eventually(async () => assert.deepEqual(await shownTags(page), SEMVER));
  await page.goto('/ui/manifest?name=semver/lib&ref=latest');
  const chips = page.getByTestId('manifest-summary').locator('.chips a');
  await eventually(async () => assert.deepEqual(await chips.allTextContents(), ['v1.1.0', 'v1.2.0', 'v1.10.0', 'v1.19.0', 'latest']));
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  const dialog = page.getByTestId('delete-dialog');
  assert.deepEqual(await dialog.locator('p code:not(.wrap)').allTextContents(), ['v1.1.0', 'v1.2.0', 'v1.10.0', 'v1.19.0', 'latest']);
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  w.assertClean();
});

test('Back keeps the list: 500 repositories and the scroll after opening the 450th; 150 tags newest first after opening one', async (t) => {
  const w = await open(t);
  const { page } = w;
  await login(page, 'admin');
  await eventually(async () => assert.match(await page.getByTestId('repository-count').innerText(), new RegExp(`^${ALL_REPOSITORIES.toLocaleString('en-US')} repositories`)));
  await clickMore(page, 4, '#repository-list a');
  const names = await page.locator('#repository-list a').allTextContents();
  assert.equal(names.length, 500);
  const target = names[449]!;
  await page.getByRole('link', { name: target, exact: true }).click();
  await page.waitForURL(`**/ui/repo?name=${target}`);
  await page.locator('#tag-table').waitFor();
  await page.goBack();
  await eventually(async () => assert.equal(await page.locator('#repository-list a').count(), 500));
  await eventually(async () => assert.ok(await inView(page, `#repository-list a[href="/ui/repo?name=${target}"]`), `${target} is in view again`));
  assert.match(await page.getByTestId('repository-count').innerText(), /showing 500/);

  await page.goto('/ui/repo?name=big/tags');
  await shownTags(page);
  await clickMore(page, 2, '#tag-table tbody tr');
  await page.getByRole('button', { name: 'Newest first' }).click();
  await eventually(async () => {
    assert.equal((await shownTags(page))[0], 'build-500');
    assert.equal(await page.getByTestId('dates-pending').count(), 0);
  }, 60_000);
  assert.equal((await shownTags(page)).length, 100, 'the 150 rows shown, up to a page of 100, in the new order');
  await clickMore(page, 1, '#tag-table tbody tr');
  const before = await shownTags(page);
  assert.ok(before.length >= 150, `${before.length} rows`);
  assert.equal(before[0], 'build-500');
  const open120 = before[120]!;
  await page.locator(`#tag-table tr[data-tag="${open120}"] a.tag-link`).click();
  await page.waitForURL(`**/ui/manifest?name=big/tags&ref=${open120}`);
  await page.getByTestId('manifest-digest').waitFor();
  await page.goBack();
  await eventually(async () => assert.deepEqual(await shownTags(page), before));
  assert.equal(await page.getByRole('button', { name: 'Newest first' }).getAttribute('aria-pressed'), 'true');
  await eventually(async () => assert.ok(await inView(page, `#tag-table tr[data-tag="${open120}"]`), `${open120} is in view again`));
  w.assertClean();
});

test('the tag filter, and Back keeps it', async (t) => {
  const w = await open(t);
  const { page } = w;
  await login(page, 'admin');
  await page.goto('/ui/repo?name=big/tags');
  await shownTags(page);
  await page.getByLabel('Filter tags').fill('build-49');
  await eventually(async () => assert.match(await page.getByTestId('tag-count').innerText(), /^10 tags match “build-49”/));
  assert.deepEqual(await shownTags(page), Array.from({ length: 10 }, (_, i) => `build-49${i}`));
  await page.locator('#tag-table tr[data-tag="build-495"] a.tag-link').click();
  await page.getByTestId('manifest-digest').waitFor();
  await page.goBack();
  await eventually(async () => assert.equal(await page.getByLabel('Filter tags').inputValue(), 'build-49'));
  assert.equal((await shownTags(page)).length, 10);
  w.assertClean();
});

test('repositories are grouped by namespace; a group collapses, and stays so after Back', async (t) => {
  const w = await open(t);
  const { page } = w;
  await login(page, 'admin');
  const groups = page.locator('#repository-list details.repo-group');
  await eventually(async () => assert.deepEqual(await groups.evaluateAll((g) => g.map((d) => d.getAttribute('data-namespace'))), ['big', 'ns0']));
  const ns0 = page.locator('details[data-namespace="ns0"]');
  assert.match(await ns0.locator('summary').innerText(), /ns0\/\s+98 repositories loaded/);
  const first = page.getByRole('link', { name: 'ns0/repo-000', exact: true });
  assert.equal(await first.isVisible(), true);
  await ns0.locator('summary').click();
  await eventually(async () => assert.equal(await first.isVisible(), false));
  await page.getByRole('link', { name: 'big/tags', exact: true }).click();
  await page.locator('#tag-table').waitFor();
  await page.goBack();
  await page.locator('details[data-namespace="ns0"]').waitFor();
  assert.equal(await page.locator('details[data-namespace="ns0"]').getAttribute('open'), null, 'still collapsed');
  w.assertClean();
});

test('an index page starts with its platforms; the pull commands are one client at a time, after them', async (t) => {
  const w = await open(t);
  const { page } = w;
  await login(page, 'admin');
  await page.goto(`/ui/manifest?name=wide/app&ref=${LONG_TAG}`);
  const platforms = page.getByRole('heading', { name: 'Platforms', level: 2 });
  await platforms.waitFor();
  const [p, pull] = [(await platforms.boundingBox())!, (await page.getByRole('heading', { name: 'Pull', level: 2 }).boundingBox())!];
  t.diagnostic(`Platforms at ${Math.round(p.y)} px, Pull at ${Math.round(pull.y)} px`);
  assert.ok(p.y < 800, `"Platforms" starts ${p.y}px down: on the first screen`);
  assert.ok(p.y < pull.y);
  assert.equal(await page.getByTestId('pull-commands').getByRole('button').count(), 2, 'by tag and by digest, for one client');
  w.assertClean();
});

