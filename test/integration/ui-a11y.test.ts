// Accessibility of the web UI (WCAG 2.1 AA), in headless Chromium over the
// large-registry fixture (test/helpers/largeUi.ts): axe-core on every page
// state in light and dark and at 320 px, failing on any violation; reflow
// at 320 px (1.4.10); forced colours (Chromium's forced-colors emulation);
// the contrast of input borders (1.4.11); and the smaller points: errors tied
// to their fields, the breadcrumb separator, cell names, chip links, the
// Copy button's name, the delete dialog's first view on a phone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { assertAccessible } from '../helpers/axe.js';
import { eventually } from '../helpers/eventually.js';
import { shownTags, startLargeUi } from '../helpers/largeUi.js';
import { LONG_TAG } from '../helpers/storageSeed.js';
import type { PageOptions } from '../helpers/browser.js';

const ui = await startLargeUi();
const { open, login } = ui;
const PHONE = { viewport: { width: 320, height: 640 }, mobile: true };
const longTagPage = `/ui/manifest?name=wide/app&ref=${LONG_TAG}`;

/** Nothing wider than the viewport: the page never scrolls sideways (1.4.10). */
async function assertReflows(page: Page, state: string): Promise<void> {
  const wide = await page.evaluate(`(() => {
    const width = document.documentElement.clientWidth;
    const over = [...document.querySelectorAll('body *')].filter((e) => {
      const r = e.getBoundingClientRect();
      // Inside a box that scrolls on its own (a table's wrapper) is that box's business.
      return r.width > 0 && r.right > width + 0.5 && !e.closest('.table-wrap');
    }).slice(0, 5).map((e) => e.tagName.toLowerCase() + (e.className ? '.' + String(e.className).split(' ').join('.') : '') + ' ' + Math.round(e.getBoundingClientRect().right));
    return { scroll: document.documentElement.scrollWidth - width, over };
  })()`) as { scroll: number; over: string[] };
  assert.ok(wide.scroll <= 0 && wide.over.length === 0, `${state}: ${wide.scroll}px wider than the viewport; past its edge: ${wide.over.join(', ')}`);
}

async function ready(page: Page): Promise<void> {
  await eventually(async () => assert.equal(await page.locator('[aria-busy="true"], .loading').count(), 0), 30_000);
}

type State = [name: string, prepare: (p: Page) => Promise<void>];

// Every page state, as a person reaches it. Anonymous first, then admin (who sees everything and may delete).
const ANONYMOUS: State[] = [
  ['login', async (p) => { await p.goto('/ui/login'); await p.getByLabel('Username', { exact: true }).waitFor(); }],
  ['login with an error', async (p) => {
    await p.goto('/ui/login');
    await p.getByRole('button', { name: 'Log in' }).click();
    await p.getByTestId('login-error').waitFor();
  }],
  ['repositories, anonymous (none to see)', async (p) => { await p.goto('/ui/'); await p.getByText('There is no repository you may pull.').waitFor(); }],
  ['not found', async (p) => { await p.goto('/ui/nowhere'); await p.getByRole('heading', { level: 1 }).waitFor(); }],
];
const ADMIN: State[] = [
  ['repositories (1,005, grouped)', async (p) => {
    await p.goto('/ui/');
    await p.locator('#repository-list details[data-namespace="ns0"]').waitFor();
    await eventually(async () => assert.match(await p.getByTestId('repository-facts').first().innerText(), /tag/));
  }],
  ['repositories, a namespace collapsed', async (p) => {
    await p.goto('/ui/');
    await p.locator('details[data-namespace="big"] > summary').click();
    await eventually(async () => assert.equal(await p.locator('details[data-namespace="big"]').getAttribute('open'), null));
  }],
  ['repositories, no match', async (p) => { await p.goto('/ui/?q=nothing-here'); await p.getByText('No repository you may pull has that in its name.').waitFor(); }],
  ['tags by version', async (p) => { await p.goto('/ui/repo?name=semver/app'); await p.locator('#tag-table tr[data-tag="v1.35.0"]').waitFor(); }],
  ['tags newest first, dates read', async (p) => {
    await p.goto('/ui/repo?name=big/tags');
    await p.getByRole('button', { name: 'Newest first' }).click();
    await eventually(async () => assert.equal((await shownTags(p))[0], 'build-500'), 60_000);
  }],
  ['tags filtered to nothing', async (p) => {
    await p.goto('/ui/repo?name=semver/app');
    await p.getByLabel('Filter tags').fill('nothing');
    await p.getByText('No tag has that in its name.').waitFor();
  }],
  ['manifest of an image', async (p) => { await p.goto('/ui/manifest?name=semver/app&ref=v1.2.0'); await p.getByTestId('manifest-digest').waitFor(); }],
  ['manifest of an index, an 80-character tag', async (p) => {
    await p.goto(longTagPage);
    await eventually(async () => assert.equal(await p.getByTestId('platform').count(), 2));
  }],
  ['manifest of an index, a config open', async (p) => {
    await p.goto(longTagPage);
    await p.locator('details.config-details > summary').first().click();
  }],
  ['the delete dialog', async (p) => {
    await p.goto('/ui/manifest?name=semver/app&ref=v1.3.0');
    await p.getByRole('button', { name: 'Delete', exact: true }).click();
    await p.getByTestId('delete-dialog').waitFor();
  }],
  ['setup', async (p) => { await p.goto('/ui/setup'); await p.getByTestId('ca-sha256').waitFor(); await p.getByTestId('certificate').waitFor(); }],
  ['setup, the Kubernetes tab', async (p) => {
    await p.goto('/ui/setup');
    await p.getByRole('tab', { name: 'Kubernetes' }).click();
    await p.locator('#panel-kubernetes:not([hidden])').waitFor();
  }],
  ['setup, the pull secret made', async (p) => {
    await p.goto('/ui/setup');
    await p.getByLabel('Your password').fill('admin-pw');
    await p.getByRole('button', { name: 'Make the pull secret' }).click();
    await p.getByTestId('pull-secret-yaml').waitFor();
  }],
  ['setup, the pull secret refused', async (p) => {
    await p.goto('/ui/setup');
    await p.getByLabel('Namespace').fill('Not A Namespace');
    await p.getByRole('button', { name: 'Make the pull secret' }).click();
    await p.getByTestId('pull-secret-error').waitFor();
  }],
];

const VARIANTS: [string, Partial<PageOptions>][] = [
  ['light', {}],
  ['dark', { colorScheme: 'dark' }],
  ['320 px', PHONE],
  ['320 px dark', { ...PHONE, colorScheme: 'dark' }],
];

for (const [variant, opts] of VARIANTS) {
  test(`axe finds no violation on any page state (${variant})`, async (t) => {
    const w = await open(t, opts);
    const stop = w.allow(/status of 40[01]/); // the wrong-password and the anonymous pages' own 401s
    let runs = 0;
    for (const [user, states] of [[null, ANONYMOUS], ['admin', ADMIN]] as const) {
      if (user) await login(w.page, user);
      for (const [name, prepare] of states) {
        await prepare(w.page);
        await ready(w.page);
        await assertAccessible(w.page, `${name} (${variant})`);
        if (opts.viewport) await assertReflows(w.page, `${name} (${variant})`);
        runs++;
      }
    }
    stop();
    t.diagnostic(`${runs} page states checked`);
    w.assertClean();
  });
}

test('reflow at 320 px: the 80-character tag, the setup tabs and the pull-secret YAML wrap; the YAML is a labelled, focusable region', async (t) => {
  const w = await open(t, PHONE);
  const { page } = w;
  await login(page, 'admin');
  await page.goto(longTagPage);
  await page.getByTestId('manifest-digest').waitFor();
  const chip = page.locator('.chips a', { hasText: LONG_TAG });
  const box = (await chip.boundingBox())!;
  assert.ok(box.x + box.width <= 320, `the long tag's chip ends at ${box.x + box.width}px`);
  await assertReflows(page, 'the long tag');
  await page.goto('/ui/setup');
  await page.getByTestId('ca-sha256').waitFor();
  for (const tab of ['Docker', 'containerd', 'k3s', 'kind', 'k3d', 'Kubernetes']) {
    await page.getByRole('tab', { name: tab, exact: true }).click();
    const panel = page.locator('.tabpanel:not([hidden])');
    const width = (await panel.boundingBox())!.width;
    assert.ok(width <= 320, `the ${tab} tab's panel is ${width}px wide`);
    await assertReflows(page, `setup, ${tab}`);
  }
  await page.getByLabel('Your password').fill('admin-pw');
  await page.getByRole('button', { name: 'Make the pull secret' }).click();
  const yaml = page.getByRole('region', { name: 'Pull secret YAML' });
  await yaml.waitFor();
  const [scroll, client] = await yaml.evaluate((e) => [e.scrollWidth, e.clientWidth]);
  assert.ok(scroll! <= client!, `the YAML is ${scroll}px of content in a ${client}px box`);
  assert.equal(await yaml.getAttribute('tabindex'), '0');
  w.assertClean();
});

/** What still tells two controls apart when the system paints every colour: borders, outlines, underlines, or colours kept on purpose. */
async function forcedLook(page: Page, selector: string): Promise<string> {
  return page.locator(selector).evaluate((e) => {
    const c = getComputedStyle(e);
    return JSON.stringify([
      c.borderTopStyle === 'none' ? 0 : c.borderTopWidth, c.borderBottomStyle === 'none' ? 0 : c.borderBottomWidth,
      c.outlineStyle === 'none' ? 0 : c.outlineWidth, c.textDecorationLine,
      c.forcedColorAdjust === 'none' ? `${c.backgroundColor} ${c.color}` : 'system colours',
    ]);
  });
}

test('forced colours: the chosen sort, the chosen setup tab and the current page link each look different from the others', async (t) => {
  const w = await open(t);
  const { page } = w;
  await page.emulateMedia({ forcedColors: 'active' });
  await login(page, 'admin');
  assert.equal(await page.evaluate('matchMedia("(forced-colors: active)").matches'), true, 'the emulation is on');
  await page.goto('/ui/repo?name=semver/app');
  await page.locator('#tag-table').waitFor();
  const pressed = await forcedLook(page, '.segmented button[aria-pressed="true"]');
  const other = await forcedLook(page, '.segmented button[aria-pressed="false"]');
  assert.notEqual(pressed, other, `"By version" (pressed) and "Newest first" look the same: ${pressed}`);
  const current = await forcedLook(page, '.main-nav a[aria-current="page"]');
  const link = await forcedLook(page, '.main-nav a:not([aria-current])');
  assert.notEqual(current, link, `both nav links look current: ${current}`);
  await page.goto('/ui/setup');
  await page.getByTestId('ca-sha256').waitFor();
  const selected = await forcedLook(page, '.tab[aria-selected="true"]');
  const unselected = await forcedLook(page, '.tab[aria-selected="false"] >> nth=0');
  assert.notEqual(selected, unselected, `the selected tab looks like the others: ${selected}`);
  w.assertClean();
});

/** WCAG's contrast ratio of two CSS rgb() colours. */
function contrast(a: string, b: string): number {
  const lum = (rgb: string) => {
    const [r, g, bl] = (rgb.match(/[\d.]+/g) ?? []).slice(0, 3).map((x) => {
      const c = Number(x) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * bl!;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}

test('non-text contrast: input and select borders are 3:1 against the page in light and dark', async (t) => {
  for (const colorScheme of ['light', 'dark'] as const) {
    const w = await open(t, { colorScheme });
    const { page } = w;
    await page.goto('/ui/login');
    const fields = [page.getByLabel('Username', { exact: true })];
    await login(page, 'admin');
    fields.push(page.getByLabel('Search repositories'));
    const measured: string[] = [];
    const check = async (name: string, field: ReturnType<Page['locator']>) => {
      const [border, bg] = await field.evaluate((e) => {
        // The colour around the field: the first ancestor with a background of its own.
        let p = e.parentElement;
        while (p && getComputedStyle(p).backgroundColor === 'rgba(0, 0, 0, 0)') p = p.parentElement;
        return [getComputedStyle(e).borderTopColor, getComputedStyle(p ?? document.body).backgroundColor];
      });
      const ratio = contrast(border!, bg!);
      measured.push(`${name} ${ratio.toFixed(2)}`);
      assert.ok(ratio >= 3, `${colorScheme}: ${name}'s border ${border} on ${bg} is ${ratio.toFixed(2)}:1`);
    };
    await page.getByLabel('Search repositories').waitFor();
    await check('the repository search', page.getByLabel('Search repositories'));
    await page.goto('/ui/repo?name=semver/app');
    await check('the tag filter', page.getByLabel('Filter tags'));
    await page.goto('/ui/manifest?name=semver/app&ref=v1.0.0');
    await check('the client picker', page.getByLabel('Client'));
    await page.goto('/ui/setup');
    await check('the namespace field', page.getByLabel('Namespace'));
    t.diagnostic(`${colorScheme}: ${measured.join(', ')}`);
    w.assertClean();
  }
});

test('form errors are tied to their fields (aria-describedby, aria-invalid)', async (t) => {
  const w = await open(t);
  const { page } = w;
  await page.goto('/ui/login');
  await page.getByLabel('Username', { exact: true }).fill('admin');
  await page.getByRole('button', { name: 'Log in' }).click();
  const password = page.getByLabel('Password', { exact: true });
  await eventually(async () => assert.equal(await password.getAttribute('aria-invalid'), 'true'));
  assert.equal(await password.getAttribute('aria-describedby'), 'login-error');
  assert.equal(await page.locator('#login-error').textContent(), 'Type your password.');
  assert.equal(await page.getByLabel('Username', { exact: true }).getAttribute('aria-invalid'), null, 'the username is fine');
  await login(page, 'admin');
  await page.goto('/ui/setup');
  await page.getByLabel('Secret name').fill('Bad_Name');
  await page.getByRole('button', { name: 'Make the pull secret' }).click();
  const name = page.getByLabel('Secret name');
  await eventually(async () => assert.equal(await name.getAttribute('aria-invalid'), 'true'));
  const described = await name.getAttribute('aria-describedby');
  assert.equal(await page.locator(`#${described}`).textContent(), await page.getByTestId('pull-secret-error').textContent());
  assert.equal(await page.getByLabel('Namespace').getAttribute('aria-invalid'), null);
  w.assertClean();
});

test('the smaller points: no separator read out, no "Platforms: Platforms", chip links clickable all over, "Copied" in the name', async (t) => {
  const w = await open(t, { ...PHONE, clipboard: true });
  const { page } = w;
  await login(page, 'admin');
  await page.goto('/ui/manifest?name=semver/app&ref=v1.2.0');
  await page.getByTestId('manifest-digest').waitFor();
  const crumbs = await page.getByRole('navigation', { name: 'Breadcrumb' }).ariaSnapshot();
  assert.doesNotMatch(crumbs, /›/, `the separator is read out: ${crumbs}`);
  const chip = page.locator('.chips li.chip', { has: page.locator('a') }).first();
  const [li, a] = [await chip.boundingBox(), await chip.locator('a').boundingBox()];
  assert.ok(li && a && Math.abs(li.width - a.width) < 1 && Math.abs(li.height - a.height) < 1, `the chip is ${JSON.stringify(li)}, its link ${JSON.stringify(a)}`);

  await page.goto('/ui/repo?name=wide/app');
  await page.locator('#tag-table tr[data-tag="latest"]').waitFor();
  const cell = page.locator('#tag-table tr[data-tag="latest"] td[data-label="Platforms"]');
  assert.equal(await cell.getByRole('list', { name: 'Platforms' }).count(), 0, 'the cell\'s list repeats the column\'s name');
  assert.deepEqual(await cell.locator('.chip').allTextContents(), ['linux/amd64', 'linux/arm64/v8']);

  const copy = page.getByRole('button', { name: 'Copy digest of latest' });
  await copy.click();
  const copied = page.getByRole('button', { name: 'Copied digest of latest' });
  await eventually(async () => assert.equal(await copied.textContent(), 'Copied'));
  w.assertClean();
});

test('the delete dialog opens at its title on a 320 px phone, focus on Cancel', async (t) => {
  const w = await open(t, { viewport: { width: 320, height: 480 }, mobile: true });
  const { page } = w;
  await login(page, 'admin');
  await page.goto('/ui/manifest?name=semver/app&ref=v1.4.0');
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  const dialog = page.getByTestId('delete-dialog');
  await dialog.waitFor();
  assert.equal(await page.evaluate('document.activeElement.textContent'), 'Cancel');
  const title = (await dialog.getByRole('heading', { name: 'Delete this manifest?' }).boundingBox())!;
  assert.ok(title.y >= 0 && title.y + title.height <= 480, `the title is at ${title.y}px`);
  assert.equal(await dialog.evaluate((d) => d.scrollTop), 0);
  await page.keyboard.press('Escape');
  w.assertClean();
});
