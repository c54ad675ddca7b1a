// The web UI over a registry of realistic size, for the browser tests of
// large lists and accessibility: the storage-written fixture (storageSeed.ts:
// 1,000 repositories, a 500-tag repository, 36 semver tags, an 80-character
// tag on an index), a real docker-registry on it, `gateway serve` in front
// (htpasswd; admin may do anything, alice pulls ns0/**, anonymous only
// public/**, which is empty),
// and Debian's Chromium.
import assert from 'node:assert/strict';
import { after } from 'node:test';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, openPage, spkiSha256, type PageOptions, type WatchedPage } from './browser.js';
import { eventually } from './eventually.js';
import { startGateway } from './gateway.js';
import { startRegistry } from './registry.js';
import { stage } from './stage.js';
import { seedLargeRegistry } from './storageSeed.js';

export const PASSWORDS = { admin: 'admin-pw', alice: 'alice-pw' } as const;
export type User = keyof typeof PASSWORDS;

export async function startLargeUi() {
  const s = await stage(PASSWORDS);
  const storage = join(s.work, 'storage');
  const seeded = await seedLargeRegistry(storage);
  const registry = await startRegistry(s.work, { storage });
  const access = [
    { account: 'admin', name: '**', actions: ['*'] },
    { account: 'alice', name: 'ns0/**', actions: ['pull'] },
    { account: '', name: 'public/**', actions: ['pull'] },
  ];
  const gw = await startGateway(s.work, { upstream: registry.url, tls: s.tls, auth: { mode: 'htpasswd', htpasswd: s.htpasswd }, access });
  const browser: Browser = await launchChromium({ trustSpki: [spkiSha256(await readFile(s.tls.cert, 'utf8'))] });
  after(async () => {
    await browser.close();
    await gw.stop();
    await registry.stop();
  });
  const origin = gw.url;

  /** A watched page on the gateway's origin, closed when the test ends. */
  async function open(t: { after: (fn: () => Promise<void>) => void }, opts: Partial<PageOptions> = {}): Promise<WatchedPage> {
    const w = await openPage(browser, { origin, ...opts });
    t.after(() => w.close());
    return w;
  }

  async function login(page: Page, user: User): Promise<void> {
    await page.goto('/ui/login');
    await page.getByLabel('Username', { exact: true }).fill(user);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORDS[user]);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL((url) => url.pathname === '/ui/');
    await eventually(async () => assert.equal(await page.getByTestId('current-user').textContent(), user));
  }

  return { s, registry, gw, origin, host: new URL(origin).host, browser, open, login, index: seeded.index };
}

/** The tag names in the table, in order, once it has rows and is not busy. */
export async function shownTags(page: Page): Promise<string[]> {
  return eventually(async () => {
    assert.equal(await page.locator('#tag-table[aria-busy="false"]').count(), 1, 'the table is there and not busy');
    const names = await page.locator('#tag-table tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-tag') ?? ''));
    assert.ok(names.length > 0);
    return names;
  }, 30_000);
}
