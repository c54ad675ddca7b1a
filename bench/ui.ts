// npm run bench -- --only ui [--quick] [--runs N]: time to first render of
// the web UI in headless Chromium, against a catalog of 5,000 repositories
// and a repository of 2,000 tags. A benchmark, not a timed test: it prints
// medians and, on a full run, writes them into bench/README.md.
//
// Each run opens a new browser context (no cookies but the session's, no
// cache: a first visit) and loads the page. An init script watches the DOM
// from navigation start; when the first list item (a link into the next
// page) exists it sets the mark `ui-first-items`, and on the next animation
// frame (the first paint that can show it) `ui-first-items-frame`. Both are
// performance.now() values: milliseconds since navigation start. A second
// load in the same context gives the warm figure (assets cached, immutable).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Browser } from 'playwright-core';
import { launchChromium, spkiSha256, CHROMIUM } from '../test/helpers/browser.js';
import { startGateway, type GatewayProcess } from '../test/helpers/gateway.js';
import { startRegistry, type Registry } from '../test/helpers/registry.js';
import { addTags, mountCopies, pushTinyImage, repositoryNames, tagNames } from './uiSeed.js';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const RUNS = Number(argv[argv.indexOf('--runs') + 1]) || (quick ? 3 : 9);
const REPOSITORIES = quick ? 1_200 : 5_000;
const TAGS = quick ? 500 : 2_000;
const ROOT = new URL('..', import.meta.url).pathname;
const CLI = join(ROOT, 'dist/cli/main.js');
const TAG_REPO = 'bench/tags';
const log = (m: string) => process.stderr.write(`bench ui: ${m}\n`);

// The marks, set in the page. The first list item of either page is a link
// to the page below it (routes.ts: /ui/repo?name=, /ui/manifest?name=).
const WATCH = `
(() => {
  const selector = 'main a[href^="/ui/repo?name="], main a[href^="/ui/manifest?name="]';
  const check = () => {
    if (performance.getEntriesByName('ui-first-items').length) return true;
    const first = document.querySelector(selector);
    if (!first) return false;
    performance.mark('ui-first-items', { detail: { count: document.querySelectorAll(selector).length } });
    requestAnimationFrame(() => performance.mark('ui-first-items-frame'));
    return true;
  };
  const observer = new MutationObserver(() => { if (check()) observer.disconnect(); });
  observer.observe(document, { childList: true, subtree: true });
})();
`;

// Read in the page once the marks are set (a string: the page's DOM types are not the test's).
const READ = `(() => {
  const first = performance.getEntriesByName('ui-first-items')[0];
  const nav = performance.getEntriesByType('navigation')[0];
  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
  const api = performance.getEntriesByType('resource').filter((r) => r.name.includes('/ui/api/') && r.startTime < first.startTime);
  return {
    firstItems: first.startTime,
    firstItemsFrame: performance.getEntriesByName('ui-first-items-frame')[0].startTime,
    firstContentfulPaint: fcp ? fcp.startTime : null,
    domContentLoaded: nav.domContentLoadedEventEnd,
    apiMs: Math.max(0, ...api.map((r) => r.duration)),
    items: first.detail.count,
    // Each API call before the first items: when it started and ended (ms since navigation start).
    calls: api.map((r) => ({ path: new URL(r.name).pathname.slice(8), start: Math.round(r.startTime), end: Math.round(r.responseEnd) })),
  };
})()`;

interface Sample {
  firstItems: number;
  firstItemsFrame: number;
  firstContentfulPaint: number | null;
  domContentLoaded: number;
  /** The slowest /ui/api/ call the page made before its first items (resource timing). */
  apiMs: number;
  items: number;
  calls: { path: string; start: number; end: number }[];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

async function loadOnce(browser: Browser, origin: string, cookie: { name: string; value: string } | null, path: string, warm: boolean): Promise<Sample> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
  try {
    if (cookie) await context.addCookies([{ ...cookie, url: origin, secure: true, httpOnly: true, sameSite: 'Strict' }]);
    await context.addInitScript({ content: WATCH });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(e.message));
    if (warm) await page.goto(origin + path, { waitUntil: 'load' }); // fills the cache
    await page.goto(origin + path, { waitUntil: 'commit' });
    // A function, not a string: a string would be eval'd in the page, which the CSP forbids.
    await page.waitForFunction(() => performance.getEntriesByName('ui-first-items-frame').length > 0, undefined, { timeout: 60_000 });
    if (errors.length) throw new Error(`the page logged errors: ${errors.join('; ')}`);
    return (await page.evaluate(READ)) as Sample;
  } finally {
    await context.close();
  }
}

interface Row {
  page: string;
  path: string;
  cache: 'cold' | 'warm';
  runs: number;
  firstItemsMs: number;
  firstItemsFrameMs: number;
  fcpMs: number | null;
  domContentLoadedMs: number;
  apiMs: number;
  items: number;
  /** The load before the measured ones: for the first (cold) row of a page, the gateway's first with its caches empty. */
  warmUp: Sample;
  samples: Sample[];
}

async function measure(browser: Browser, origin: string, cookie: { name: string; value: string } | null, page: string, path: string, cache: 'cold' | 'warm'): Promise<Row> {
  // The warm-up: the gateway's and Chromium's code paths, and for the first
  // row of a page the gateway's first read of the upstream (caches empty).
  const warmUp = await loadOnce(browser, origin, cookie, path, cache === 'warm');
  const samples: Sample[] = [];
  for (let i = 0; i < RUNS; i++) samples.push(await loadOnce(browser, origin, cookie, path, cache === 'warm'));
  const fcps = samples.map((s) => s.firstContentfulPaint).filter((x): x is number => x !== null);
  const row: Row = {
    page, path, cache, runs: RUNS,
    firstItemsMs: median(samples.map((s) => s.firstItems)),
    firstItemsFrameMs: median(samples.map((s) => s.firstItemsFrame)),
    fcpMs: fcps.length ? median(fcps) : null,
    domContentLoadedMs: median(samples.map((s) => s.domContentLoaded)),
    apiMs: median(samples.map((s) => s.apiMs)),
    items: samples[0]!.items,
    warmUp,
    samples,
  };
  if (process.env.BENCH_UI_VERBOSE) log(`warm-up ${JSON.stringify(warmUp)}\n${JSON.stringify(samples)}`);
  log(`${page} (${cache}): first items ${row.firstItemsMs.toFixed(0)} ms, next frame ${row.firstItemsFrameMs.toFixed(0)} ms, API ${row.apiMs.toFixed(0)} ms, ${row.items} items`);
  return row;
}

/**
 * Search over the whole catalog: the time from typing a name into the search
 * box (one input event) to the list showing just that repository. It
 * includes the page's 250 ms debounce, which a person waits for too.
 */
async function measureSearch(browser: Browser, origin: string, cookie: { name: string; value: string } | null, name: string): Promise<{ medianMs: number; samples: number[] }> {
  const samples: number[] = [];
  for (let i = 0; i <= RUNS; i++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
    try {
      if (cookie) await context.addCookies([{ ...cookie, url: origin, secure: true, httpOnly: true, sameSite: 'Strict' }]);
      const page = await context.newPage();
      await page.goto(`${origin}/ui/`);
      await page.locator('#repository-list a').first().waitFor();
      await page.evaluate('window.__searchStart = performance.now()');
      await page.locator('#search-repositories').fill(name);
      await page.waitForFunction((wanted) => {
        const doc = (globalThis as unknown as { document: { querySelectorAll: (s: string) => { length: number; [i: number]: { textContent: string | null } }; querySelector: (s: string) => unknown } }).document;
        const links = doc.querySelectorAll('#repository-list a');
        return links.length === 1 && links[0]!.textContent === wanted && !doc.querySelector('#repository-list.stale');
      }, name, { timeout: 60_000 });
      const ms = (await page.evaluate('performance.now() - window.__searchStart')) as number;
      if (i > 0) samples.push(ms); // the first is the warm-up
    } finally {
      await context.close();
    }
  }
  const medianMs = median(samples);
  log(`search for ${name}: ${medianMs.toFixed(0)} ms to the one result (with the 250 ms debounce)`);
  return { medianMs, samples };
}

async function login(origin: string, ca: string, user: string, password: string): Promise<{ name: string; value: string }> {
  const https = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = https.request(`${origin}/ui/api/session`, { method: 'POST', ca, headers: { origin, 'content-type': 'application/json' } }, (res) => {
      res.resume();
      const set = (res.headers['set-cookie'] ?? [])[0];
      if (res.statusCode !== 200 || !set) return reject(new Error(`login: POST /ui/api/session answered ${res.statusCode} without a session cookie`));
      const [pair] = set.split(';');
      const eq = pair!.indexOf('=');
      resolve({ name: pair!.slice(0, eq), value: pair!.slice(eq + 1) });
    });
    req.on('error', reject);
    req.end(JSON.stringify({ username: user, password }));
  });
}

function writeReadme(rows: Row[], meta: string, search: { name: string; ms: number }): void {
  const path = join(ROOT, 'bench', 'README.md');
  const text = readFileSync(path, 'utf8');
  const f = (x: number | null) => (x === null ? 'n/a' : `${Math.round(x)} ms`);
  const table = [
    `<!-- ui:start -->`,
    meta,
    '',
    '| page | cache | first list items | next frame | first contentful paint | DOMContentLoaded | slowest /ui/api/ call | items rendered |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.page} (\`${r.path}\`) | ${r.cache} | ${f(r.firstItemsMs)} | ${f(r.firstItemsFrameMs)} | ${f(r.fcpMs)} | ${f(r.domContentLoadedMs)} | ${f(r.apiMs)} | ${r.items} |`),
    '',
    `The first load of each page after the gateway started (its caches empty, one sample each): repositories ${f(rows.find((r) => r.path === '/ui/')!.warmUp.firstItems)}, tags ${f(rows.find((r) => r.path !== '/ui/')!.warmUp.firstItems)} to the first list items.`,
    '',
    `Search: typing \`${search.name}\` (the last of ${REPOSITORIES.toLocaleString('en-US')}) into the box to the list showing only it: ${f(search.ms)} (median; the page waits 250 ms after the last keystroke before it asks).`,
    `<!-- ui:end -->`,
  ].join('\n');
  const start = text.indexOf('<!-- ui:start -->');
  const end = text.indexOf('<!-- ui:end -->');
  if (start < 0 || end < 0) throw new Error('bench/README.md has no <!-- ui:start --> ... <!-- ui:end --> markers: add them where the UI table goes');
  writeFileSync(path, text.slice(0, start) + table + text.slice(end + '<!-- ui:end -->'.length));
}

async function main(): Promise<void> {
  for (const tool of ['docker-registry', CHROMIUM]) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      throw new Error(`bench ui needs ${tool}: apt-get install ${tool.endsWith('chromium') ? 'chromium' : 'docker-registry'}`);
    }
  }
  if (!existsSync(join(ROOT, 'dist/web/index.html'))) throw new Error('no dist/web/index.html: run npm run build first');
  const work = mkdtempSync(join(tmpdir(), 'gw-bench-ui-'));
  let registry: Registry | undefined;
  let gw: GatewayProcess | undefined;
  let browser: Browser | undefined;
  try {
    const certs = join(work, 'certs');
    const htpasswd = join(work, 'htpasswd');
    execFileSync(process.execPath, [CLI, 'certs', 'init', '--dir', certs, '--host', 'localhost', '--host', '127.0.0.1'], { stdio: ['ignore', 'ignore', 'inherit'] });
    execFileSync(process.execPath, [CLI, 'users', 'add', 'bench', '--password-stdin', '--file', htpasswd, '--cost', '10'], { input: 'bench-password', stdio: ['pipe', 'ignore', 'inherit'] });
    const ca = readFileSync(join(certs, 'ca.crt'), 'utf8');
    registry = await startRegistry(work, { storage: join(work, 'storage') });

    let t = performance.now();
    const image = await pushTinyImage(registry.url, TAG_REPO, '1.0.0');
    await mountCopies(registry.url, image, repositoryNames(REPOSITORIES - 1), 'latest', 32);
    log(`${REPOSITORIES} repositories in ${((performance.now() - t) / 1000).toFixed(1)} s (blob mounts + manifest PUTs)`);
    t = performance.now();
    await addTags(registry.url, image, tagNames(TAGS).slice(1), 32);
    log(`${TAGS} tags in ${TAG_REPO} in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    gw = await startGateway(work, {
      upstream: registry.url,
      tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') },
      auth: { mode: 'htpasswd', htpasswd },
      access: [{ account: 'bench', name: '**', actions: ['pull'] }],
    });
    const cookie = await login(gw.url, ca, 'bench', 'bench-password');
    browser = await launchChromium({ trustSpki: [spkiSha256(readFileSync(join(certs, 'server.crt'), 'utf8'))] });

    const startLoad = loadavg()[0]!.toFixed(1);
    const rows: Row[] = [];
    for (const cache of ['cold', 'warm'] as const) {
      rows.push(await measure(browser, gw.url, cookie, `repositories, ${REPOSITORIES.toLocaleString('en-US')} in the catalog`, '/ui/', cache));
      rows.push(await measure(browser, gw.url, cookie, `tags, ${TAGS.toLocaleString('en-US')} in the repository`, `/ui/repo?name=${TAG_REPO}`, cache));
    }
    const searched = repositoryNames(REPOSITORIES - 1).at(-1)!;
    const search = await measureSearch(browser, gw.url, cookie, searched);
    const meta = `Run ${new Date().toISOString()} on ${cpus().length} cores (${cpus()[0]?.model ?? ''}); Node ${process.version}, Chromium ${browser.version()} (headless), 1280x800. Medians of ${RUNS} loads after one warm-up, each in a new browser context, logged in (session cookie). Load average at the start ${startLoad}, at the end ${loadavg()[0]!.toFixed(1)}.`;
    const results = { date: new Date().toISOString(), quick, loadAverage: [startLoad, loadavg()[0]!.toFixed(1)], runs: RUNS, repositories: REPOSITORIES, tags: TAGS, cores: cpus().length, cpu: cpus()[0]?.model ?? '', node: process.version, chromium: browser.version(), rows, search: { name: searched, ...search } };
    mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
    if (quick) {
      log('--quick: bench/README.md and bench/results/ui.json left as they are');
    } else {
      writeFileSync(join(ROOT, 'bench', 'results', 'ui.json'), JSON.stringify(results, null, 2) + '\n');
      writeReadme(rows, meta, { name: searched, ms: search.medianMs });
      log('wrote bench/results/ui.json and the table in bench/README.md');
    }
    for (const r of rows) process.stdout.write(`${r.page} [${r.cache}]: first items ${r.firstItemsMs.toFixed(0)} ms (next frame ${r.firstItemsFrameMs.toFixed(0)} ms)\n`);
  } finally {
    await browser?.close();
    await gw?.stop();
    await registry?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench ui: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
