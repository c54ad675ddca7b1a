// Headless Chromium (Debian's, never a downloaded build) driven by
// playwright-core, for the web UI's end-to-end tests and benchmark. Every
// page opened here records what a person would never see but must never
// happen: console errors, uncaught exceptions, CSP violations, requests to
// another origin (the UI works offline) and server errors; a test ends with
// assertClean(), so any of them fails it.
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';
import { ROOT } from './exec.js';
import { tempDir } from './tmp.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * The flags this machine's probe used: without the background-networking
 * ones Chromium keeps dialing Google's hosts, which a closed network refuses
 * many times a second. playwright-core adds --headless and a fresh, empty
 * --user-data-dir of its own for every launch.
 */
export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Base64 of the SHA-256 of a certificate's SubjectPublicKeyInfo: the form
 * `--ignore-certificate-errors-spki-list` takes. Chromium then accepts that
 * one key (and only it) for any name, which is how it trusts the test CA's
 * server certificate without touching a system trust store.
 */
export function spkiSha256(certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

/** Chromium, trusting exactly the given server keys (spkiSha256). */
export async function launchChromium(opts: { trustSpki?: string[] } = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's package (apt-get install chromium) or set CHROMIUM_PATH`);
  const args = [...CHROMIUM_FLAGS];
  if (opts.trustSpki?.length) args.push(`--ignore-certificate-errors-spki-list=${opts.trustSpki.join(',')}`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args });
}

export interface WatchedPage {
  page: Page;
  context: BrowserContext;
  /** Everything that went wrong so far, one line each. */
  problems: string[];
  /** Tolerate matching console errors from now on (say, the 401 a wrong password gets); returns a function that stops tolerating them. */
  allow: (pattern: RegExp) => () => void;
  /** Fails the test with every problem recorded. */
  assertClean: () => void;
  close: () => Promise<void>;
}

export interface PageOptions {
  /** The gateway's origin, https://127.0.0.1:PORT: the only one the page may reach. */
  origin: string;
  /** Clipboard permissions for the origin (navigator.clipboard in tests). */
  clipboard?: boolean;
  viewport?: { width: number; height: number };
  colorScheme?: 'light' | 'dark';
  /** Phone-like: touch, mobile viewport meta honoured. */
  mobile?: boolean;
  /** More origins the page may reach (a test's own cross-site page); none by default. */
  otherOrigins?: string[];
}

// Runs in the page before any of its scripts. A violation is also logged by
// Chromium as a console error, but the event names the directive and the
// blocked resource, and reaches us even if a future Chromium stops logging.
const CSP_LISTENER = `
document.addEventListener('securitypolicyviolation', (e) => {
  console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || '(inline)') + ' in ' + (e.sourceFile || e.documentURI) + ':' + e.lineNumber);
}, true);
`;

/** A new context (no cookies, no cache) and page, watched; see the file comment. */
export async function openPage(browser: Browser, opts: PageOptions): Promise<WatchedPage> {
  const contextOptions: BrowserContextOptions = {
    baseURL: opts.origin,
    viewport: opts.viewport ?? { width: 1280, height: 800 },
    deviceScaleFactor: 1,
    colorScheme: opts.colorScheme ?? 'light',
    locale: 'en-US',
    timezoneId: 'UTC',
    ...(opts.mobile ? { isMobile: true, hasTouch: true } : {}),
  };
  const context = await browser.newContext(contextOptions);
  if (opts.clipboard) await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: opts.origin });
  await context.addInitScript({ content: CSP_LISTENER });
  const problems: string[] = [];
  const allowed = new Set<RegExp>();
  const tolerated = (text: string) => [...allowed].some((p) => p.test(text));
  // Every request stays on the gateway's origin: no CDN, no fonts from elsewhere.
  const reachable = new Set([opts.origin, ...(opts.otherOrigins ?? [])]);
  await context.route((url) => !reachable.has(url.origin) && url.protocol !== 'data:', async (route) => {
    problems.push(`request to another origin: ${route.request().method()} ${route.request().url()}`);
    await route.abort('blockedbyclient');
  });
  const page = await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const where = msg.location();
    const text = `console error: ${msg.text()}${where.url ? ` (${where.url}:${where.lineNumber})` : ''}`;
    if (!tolerated(text)) problems.push(text);
  });
  page.on('pageerror', (err) => problems.push(`uncaught exception in the page: ${err.stack ?? err.message}`));
  page.on('response', (res) => {
    if (res.status() >= 500) problems.push(`server error: ${res.request().method()} ${res.url()} answered ${res.status()}`);
  });
  page.on('requestfailed', (req) => {
    const failure = req.failure()?.errorText ?? '';
    // A navigation or fetch cut short by the next navigation is not a fault.
    if (failure.includes('ERR_ABORTED') || failure.includes('ERR_BLOCKED_BY_CLIENT')) return;
    problems.push(`request failed: ${req.method()} ${req.url()}: ${failure}`);
  });
  return {
    page,
    context,
    problems,
    allow(pattern) {
      allowed.add(pattern);
      return () => allowed.delete(pattern);
    },
    assertClean() {
      assert.deepEqual(problems, [], `the page had problems:\n${problems.join('\n')}`);
    },
    close: () => context.close(),
  };
}

/**
 * Where screenshots go: docs/screenshots/ when UPDATE_SCREENSHOTS=1 (they
 * are committed and shown in the README), SCREENSHOT_DIR when set (to look
 * at them after the run), else a temporary directory removed with the test
 * file: a run always renders and captures them without dirtying the tree.
 */
export async function screenshotDir(): Promise<{ dir: string; committed: boolean }> {
  if (process.env.UPDATE_SCREENSHOTS === '1') {
    const dir = join(ROOT, 'docs', 'screenshots');
    await mkdir(dir, { recursive: true });
    return { dir, committed: true };
  }
  if (process.env.SCREENSHOT_DIR) {
    await mkdir(process.env.SCREENSHOT_DIR, { recursive: true });
    return { dir: process.env.SCREENSHOT_DIR, committed: false };
  }
  return { dir: await tempDir('gw-screenshots-'), committed: false };
}
