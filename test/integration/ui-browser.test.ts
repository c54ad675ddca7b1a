// The web UI at /ui end to end, as a person uses it: Debian's headless
// Chromium driven by playwright-core, against a real `gateway serve` (HTTPS,
// htpasswd) in front of a real docker-registry with delete enabled, images
// pushed through the gateway by skopeo, one of them a two-platform OCI index.
// Every page is watched (test/helpers/browser.ts): a console error, an
// uncaught exception, a CSP violation or a request to another origin fails
// the test it happens in. The screenshots in docs/screenshots/ come from
// here (UPDATE_SCREENSHOTS=1 writes them; otherwise they go to a temp dir).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFile, mkdir, readFile, readdir, stat } from 'node:fs/promises';
import https from 'node:https';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Browser, Page } from 'playwright-core';
import { ROOT } from '../helpers/exec.js';
import { startGateway } from '../helpers/gateway.js';
import { request } from '../helpers/https.js';
import { skopeoPolicy } from '../helpers/oci.js';
import { buildMultiPlatformIndex, buildSingleImage, pushAll, registrySizes } from '../helpers/multiarch.js';
import { freePort, startRegistry } from '../helpers/registry.js';
import { stage } from '../helpers/stage.js';
import { launchChromium, openPage, screenshotDir, spkiSha256, type WatchedPage, type PageOptions } from '../helpers/browser.js';
import { mountCopies, pushTinyImage } from '../../bench/uiSeed.js';
import { eventually } from '../helpers/eventually.js';

const PASSWORDS = { admin: 'admin-pw', alice: 'alice-pw', bob: 'bob-pw' } as const;
type User = keyof typeof PASSWORDS;
const s = await stage(PASSWORDS);
const registry = await startRegistry(s.work, { storage: join(s.work, 'storage') }); // storage.delete.enabled: true
// alice may delete in her namespace; bob may only pull from it; everyone,
// anonymous too, pulls public/**; admin's own repositories are admin's.
const access = [
  { account: 'admin', name: '**', actions: ['*'] },
  { account: 'alice', name: 'alice/**', actions: ['pull', 'push', 'delete'] },
  { account: 'bob', name: 'alice/**', actions: ['pull'] },
  { account: '*', name: 'public/**', actions: ['pull'] },
  { account: '', name: 'public/**', actions: ['pull'] },
];
const gw = await startGateway(s.work, { upstream: registry.url, tls: s.tls, auth: { mode: 'htpasswd', htpasswd: s.htpasswd }, access });
const origin = gw.url;
const host = new URL(origin).host; // 127.0.0.1:PORT, what docker pull names
after(async () => {
  await gw.stop();
  await registry.stop();
});

// Images, pushed by skopeo through the gateway as admin (HTTPS, the test CA).
const certDir = join(s.work, 'skopeo-certs');
await mkdir(certDir);
await copyFile(join(s.certs, 'ca.crt'), join(certDir, 'ca.crt'));
const policy = await skopeoPolicy(s.work);
const push = (layout: string, ref: string, dest: string) => pushAll(layout, ref, `${host}/${dest}`, { policy, certDir, creds: 'admin:admin-pw', home: s.work });
const index = await buildMultiPlatformIndex(s.work, '1');
await push(index.layout, '1', 'alice/app:1');
const linux = { os: 'linux', architecture: 'amd64' };
const small = (await buildSingleImage(s.work, 'small', { platform: linux, layerSizes: [4096], entrypoint: ['/bin/sh'] })).layout;
const other = (await buildSingleImage(s.work, 'other', { platform: linux, layerSizes: [2048] })).layout;
for (const dest of ['alice/app:2', 'alice/tool:1', 'admin/private:1', 'public/base:1', 'public/tools:1']) await push(small, 'small', dest);
await push(other, 'other', 'alice/tool:old');

const ALICE_SEES = ['alice/app', 'alice/tool', 'public/base', 'public/tools'];
const ANONYMOUS_SEES = ['public/base', 'public/tools'];

const serverCert = await readFile(s.tls.cert, 'utf8');
const browser: Browser = await launchChromium({ trustSpki: [spkiSha256(serverCert)] });
after(() => browser.close());
const shots = await screenshotDir();

/** A watched page on the gateway's origin; closed when the test ends. */
async function open(t: { after: (fn: () => Promise<void>) => void }, opts: Partial<PageOptions> = {}): Promise<WatchedPage> {
  const w = await openPage(browser, { origin, ...opts });
  t.after(() => w.close());
  return w;
}

/** Logs in with the form, by keyboard: Tab from the username to the password, Enter submits. */
async function login(page: Page, user: User): Promise<void> {
  await page.goto('/ui/login');
  await page.getByLabel('Username', { exact: true }).fill(user);
  await page.keyboard.press('Tab');
  await page.keyboard.type(PASSWORDS[user]);
  await page.keyboard.press('Enter');
  await page.waitForURL((url) => url.pathname === '/ui/');
  await eventually(async () => assert.equal(await page.getByTestId('current-user').textContent(), user));
}

async function listedRepositories(page: Page, count: number): Promise<string[]> {
  return eventually(async () => {
    const names = await page.locator('#repository-list a').allTextContents();
    assert.equal(names.length, count, `the list shows ${names.join(', ')}`);
    assert.equal(await page.locator('#repository-list[aria-busy="true"]').count(), 0);
    return names;
  });
}

async function sessionCookie(w: WatchedPage): Promise<string> {
  const cookies = await w.context.cookies(origin);
  const c = cookies.find((x) => x.name === '__Host-gateway-session');
  assert.ok(c, `no __Host-gateway-session cookie among ${cookies.map((x) => x.name).join(', ')}`);
  return `${c.name}=${c.value}`;
}

/** A fetch from inside the page (same origin: the browser adds the cookie and Origin). */
async function pageFetch(page: Page, path: string, init: { method?: string } = {}): Promise<{ status: number; body: any }> {
  return page.evaluate(`(async () => {
    const r = await fetch(${JSON.stringify(path)}, { method: ${JSON.stringify(init.method ?? 'GET')}, headers: { accept: 'application/json' } });
    const text = await r.text();
    let body = null;
    try { body = JSON.parse(text); } catch {}
    return { status: r.status, body };
  })()`);
}

const MANIFEST_ACCEPT = 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json';
/** Straight to the upstream, past the gateway: what the registry really holds. */
const upstreamStatus = async (path: string) => (await fetch(`${registry.url}${path}`, { method: 'HEAD', headers: { accept: MANIFEST_ACCEPT } })).status;
const upstreamTags = async (name: string) => ((await (await fetch(`${registry.url}/v2/${name}/tags/list`)).json()) as { tags: string[] | null }).tags ?? [];

/** The same rounding people read (1.5 KiB, 20.7 KiB), worked out here from the registry's byte counts. */
function humanSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  if (u === 0) return `${bytes} B`;
  return `${Number(v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0))} ${units[u]}`;
}

async function shot(page: Page, name: string): Promise<void> {
  // Web fonts are never loaded (none from elsewhere), but wait for layout to settle all the same.
  await page.evaluate('document.fonts.ready.then(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))))');
  await page.screenshot({ path: join(shots.dir, `${name}.png`), fullPage: true, animations: 'disabled', caret: 'hide' });
}

test('log in with the form (keyboard only): alice sees alice/** and public/**, never admin/private; the cookie is HttpOnly, Secure, SameSite=Strict', async (t) => {
  const w = await open(t);
  const { page } = w;
  await page.goto('/ui/login');
  // A wrong password first: the form says so (the 401 is logged by Chromium as a failed load: expected here).
  const stop = w.allow(/status of 401/);
  await page.getByLabel('Username', { exact: true }).fill('alice');
  await page.getByLabel('Password', { exact: true }).fill('wrong');
  await page.getByRole('button', { name: 'Log in' }).click();
  await eventually(async () => assert.match((await page.getByTestId('login-error').textContent()) ?? '', /password|user/i));
  stop();
  await login(page, 'alice');
  assert.deepEqual(await listedRepositories(page, ALICE_SEES.length), ALICE_SEES);
  assert.deepEqual((await pageFetch(page, '/ui/api/repositories')).body.repositories, ALICE_SEES, 'the API lists what the page shows');
  assert.equal((await pageFetch(page, '/ui/api/repositories?q=private')).body.repositories.length, 0, 'search does not find what the rules hide');
  const denied = await (async () => {
    const allow = w.allow(/status of 40[134]/);
    try {
      return await pageFetch(page, '/ui/api/repositories/tags?name=admin/private');
    } finally {
      allow();
    }
  })();
  assert.ok([401, 403, 404].includes(denied.status), `admin/private's tags: ${denied.status} ${JSON.stringify(denied.body)}`);
  assert.doesNotMatch(JSON.stringify(denied.body), /"1"|sha256/, 'nothing of admin/private leaks');

  const cookie = (await w.context.cookies(origin)).find((c) => c.name === '__Host-gateway-session');
  assert.ok(cookie);
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.secure, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(cookie.path, '/');
  assert.equal(await page.evaluate('document.cookie'), '', 'scripts cannot read the session');
  assert.doesNotMatch(Buffer.from(cookie.value.split('.')[1] ?? '', 'base64url').toString('latin1'), /alice-pw/, 'the cookie holds no password');
  w.assertClean();
});

test('the multi-platform tag: both platforms with the sizes the registry holds, on the tags page and the manifest page', async (t) => {
  const w = await open(t);
  const { page } = w;
  await login(page, 'bob');
  const real = await registrySizes(registry.url, 'alice/app', '1');
  assert.equal(real.digest, index.index.digest);
  assert.equal(real.platforms.length, 2);

  await page.getByRole('link', { name: 'alice/app', exact: true }).click();
  await page.waitForURL('**/ui/repo?name=alice/app');
  const row = page.locator('#tag-table tr[data-tag="1"]');
  await row.waitFor();
  assert.deepEqual(await row.locator('.chip').allTextContents(), ['linux/amd64', 'linux/arm64/v8']);
  const apiTags = (await pageFetch(page, '/ui/api/repositories/tags?name=alice/app')).body;
  const apiOne = apiTags.tags.find((x: { name: string }) => x.name === '1');
  assert.equal(apiOne.digest, real.digest);
  assert.equal(apiOne.size, real.platforms.reduce((sum, p) => sum + p.size, 0), 'an index is the sum of its platforms');
  assert.equal((await row.locator('td[data-label="Size"]').textContent())?.trim(), humanSize(apiOne.size));

  await row.getByRole('link', { name: '1', exact: true }).click();
  await page.waitForURL('**/ui/manifest?name=alice/app&ref=1');
  const platforms = page.getByTestId('platform');
  await eventually(async () => assert.equal(await platforms.count(), 2));
  for (const p of real.platforms) {
    const label = [p.platform.os, p.platform.architecture, p.platform.variant].filter(Boolean).join('/');
    const card = page.locator(`[data-testid="platform"][data-platform="${label}"]`);
    assert.equal(await card.getByRole('heading', { level: 3 }).textContent(), label);
    assert.equal((await card.getByTestId('platform-size').textContent())?.trim(), humanSize(p.size), `${label}: ${p.size} bytes in the registry`);
    assert.ok((await card.textContent())?.includes(p.digest), `${label} shows its digest`);
    const built = index.platforms.find((b) => b.manifest.digest === p.digest)!;
    // Each platform's layers, each with its own size.
    const layerText = await card.locator('table').first().textContent();
    for (const layer of built.layers) assert.ok(layerText?.includes(humanSize(layer.size)), `${label}: layer of ${layer.size} bytes listed (${layerText})`);
  }
  assert.equal(await page.getByTestId('manifest-digest').textContent(), real.digest);
  assert.equal((await page.getByTestId('manifest-size').textContent())?.trim(), humanSize(apiOne.size), 'the index: both platforms together');
  assert.equal(await page.getByRole('button', { name: /^Delete/ }).count(), 0, 'bob may not delete: no delete button');
  w.assertClean();
});

test('copy a pull command: the clipboard holds exactly docker pull HOST/alice/app:1 (and by digest)', async (t) => {
  const w = await open(t, { clipboard: true });
  const { page } = w;
  await login(page, 'alice');
  await page.goto('/ui/manifest?name=alice/app&ref=1');
  const clipboard = () => page.evaluate('navigator.clipboard.readText()') as Promise<string>;
  await page.getByRole('button', { name: 'Copy docker pull by tag' }).click();
  await eventually(async () => assert.equal(await clipboard(), `docker pull ${host}/alice/app:1`));
  await eventually(async () => assert.equal(await page.getByRole('button', { name: 'Copied docker pull by tag' }).textContent(), 'Copied'));
  await page.getByRole('button', { name: 'Copy docker pull by digest' }).click();
  await eventually(async () => assert.equal(await clipboard(), `docker pull ${host}/alice/app@${index.index.digest}`));
  // One client at a time: the picker chooses it.
  await page.getByLabel('Client').selectOption('ctr');
  assert.equal(await page.getByRole('button', { name: /docker pull/ }).count(), 0, 'only the chosen client\'s commands');
  await page.getByRole('button', { name: 'Copy ctr images pull by tag' }).click();
  await eventually(async () => assert.equal(await clipboard(), `ctr images pull --hosts-dir /etc/containerd/certs.d --user alice ${host}/alice/app:1`));
  await page.getByLabel('Client').selectOption('skopeo');
  await page.getByRole('button', { name: 'Copy skopeo copy by tag' }).click();
  await eventually(async () => assert.equal(await clipboard(), `skopeo copy docker://${host}/alice/app:1 oci:alice/app:1`));
  // Keyboard: the focused copy button works with Enter.
  await page.getByLabel('Client').selectOption('podman');
  await page.getByRole('button', { name: 'Copy podman pull by tag' }).focus();
  await page.keyboard.press('Enter');
  await eventually(async () => assert.equal(await clipboard(), `podman pull ${host}/alice/app:1`));
  // The choice is remembered, and each tag row copies that client's command.
  await page.reload();
  await page.getByTestId('manifest-digest').waitFor();
  assert.equal(await page.getByLabel('Client').inputValue(), 'podman');
  await page.goto('/ui/repo?name=alice/app');
  await page.getByRole('button', { name: 'Copy podman pull command for 2' }).click();
  await eventually(async () => assert.equal(await clipboard(), `podman pull ${host}/alice/app:2`));
  w.assertClean();
});

test('delete: alice (delete granted) deletes alice/tool:old and the registry no longer has it; bob sees no delete button; forged deletes are refused with 403 and delete nothing', async (t) => {
  const oldDigest = (await registrySizes(registry.url, 'alice/tool', 'old')).digest;
  const keepDigest = (await registrySizes(registry.url, 'alice/tool', '1')).digest;
  assert.notEqual(oldDigest, keepDigest);

  // bob: may pull alice/**, not delete: the page offers nothing, the API refuses.
  const b = await open(t);
  await login(b.page, 'bob');
  await b.page.goto('/ui/manifest?name=alice/tool&ref=old');
  await b.page.getByTestId('manifest-digest').waitFor();
  assert.equal(await b.page.getByRole('button', { name: /delete/i }).count(), 0, 'no delete button for bob');
  assert.equal((await pageFetch(b.page, '/ui/api/manifest?name=alice/tool&ref=old')).body.canDelete, false);
  assert.equal((await pageFetch(b.page, '/ui/api/repositories/tags?name=alice/tool')).body.canDelete, false);
  const stopB = b.allow(/status of 403/);
  const bobDelete = await pageFetch(b.page, `/ui/api/manifest?name=alice/tool&digest=${oldDigest}`, { method: 'DELETE' });
  stopB();
  assert.equal(bobDelete.status, 403, `bob's DELETE from the page (right Origin, no delete rule): ${JSON.stringify(bobDelete.body)}`);
  assert.equal(await upstreamStatus(`/v2/alice/tool/manifests/${oldDigest}`), 200);
  b.assertClean();

  // alice's session, forged requests from outside the page.
  const a = await open(t);
  await login(a.page, 'alice');
  const cookie = await sessionCookie(a);
  const forged = (headers: Record<string, string>) => request(`${origin}/ui/api/manifest?name=alice/tool&digest=${oldDigest}`, { ca: s.ca, method: 'DELETE', headers: { cookie, ...headers } });
  for (const [why, headers] of [
    ['a foreign Origin', { origin: 'https://evil.example' }],
    ['the other name of the same gateway (another origin)', { origin: `https://localhost:${gw.port}` }],
    ['http instead of https', { origin: `http://${host}` }],
    ['no Origin at all', {}],
    ['Origin null (a sandboxed frame)', { origin: 'null' }],
  ] as const) {
    const r = await forged(headers);
    assert.equal(r.status, 403, `${why}: ${r.status} ${r.body}`);
    assert.equal(r.json().error.code, 'ORIGIN', `${why}: ${r.body}`);
  }
  assert.equal(await upstreamStatus(`/v2/alice/tool/manifests/${oldDigest}`), 200, 'nothing was deleted by the forged requests');

  // A page on another site (https://localhost:PORT2, the same key) with alice's
  // cookies in the same browser: SameSite=Strict keeps the cookie home and the
  // DELETE's preflight gets no CORS grant, so it never reaches the manifest.
  const evilPort = await freePort();
  const evil = https.createServer({ cert: serverCert, key: await readFile(s.tls.key, 'utf8') }, (_req, res) => {
    res.setHeader('content-type', 'text/html');
    res.end('<!doctype html><title>elsewhere</title><p>elsewhere</p>');
  });
  await new Promise<void>((r) => evil.listen(evilPort, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => evil.close(() => r())));
  const evilOrigin = `https://localhost:${evilPort}`;
  // Not watched for errors: the browser rightly reports the blocked request.
  const ae = await openPage(browser, { origin: evilOrigin, otherOrigins: [origin] });
  t.after(() => ae.close());
  await ae.context.addCookies([{ name: '__Host-gateway-session', value: cookie.split('=').slice(1).join('='), url: origin, secure: true, httpOnly: true, sameSite: 'Strict' }]);
  await ae.page.goto(`${evilOrigin}/`);
  const logFrom = gw.entries().length;
  const fromEvil = await ae.page.evaluate(`(async () => {
    const out = [];
    try { const r = await fetch(${JSON.stringify(`${origin}/ui/api/manifest?name=alice/tool&digest=${oldDigest}`)}, { method: 'DELETE', credentials: 'include' }); out.push('delete:' + r.status); } catch (e) { out.push('delete:blocked'); }
    try { await fetch(${JSON.stringify(`${origin}/ui/api/session`)}, { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body: '{"username":"alice","password":"alice-pw"}' }); out.push('post:sent'); } catch (e) { out.push('post:blocked'); }
    return out;
  })()`);
  assert.deepEqual(fromEvil, ['delete:blocked', 'post:sent'], 'the cross-site DELETE is blocked by the browser');
  const post = await gw.waitFor((e) => e.msg === 'request' && e.method === 'POST' && e.path === '/ui/api/session', logFrom);
  assert.equal(post.status, 403, 'the cross-site text/plain login POST is refused (Origin)');
  assert.ok(!gw.entries().some((e) => e.method === 'DELETE' && e.status === 202), 'no DELETE was accepted');
  assert.equal(await upstreamStatus(`/v2/alice/tool/manifests/${oldDigest}`), 200, 'still there after the cross-site page');

  // The real thing: alice deletes through the dialog.
  await a.page.goto('/ui/manifest?name=alice/tool&ref=old');
  await a.page.getByRole('button', { name: 'Delete', exact: true }).click();
  const dialog = a.page.getByTestId('delete-dialog');
  await dialog.waitFor();
  assert.match((await dialog.textContent()) ?? '', /every tag on this digest/);
  assert.equal(await a.page.evaluate('document.activeElement.textContent'), 'Cancel', 'focus starts on Cancel, not on the destructive button');
  await dialog.getByRole('button', { name: 'Delete manifest' }).click();
  await a.page.waitForURL('**/ui/repo?name=alice/tool');
  await eventually(async () => assert.match((await a.page.getByTestId('flash').textContent()) ?? '', /Deleted alice\/tool@/));
  await eventually(async () => assert.equal(await a.page.locator('#tag-table tr[data-tag="old"]').count(), 0));
  assert.equal(await upstreamStatus(`/v2/alice/tool/manifests/${oldDigest}`), 404, 'the registry no longer has the manifest');
  assert.deepEqual(await upstreamTags('alice/tool'), ['1'], 'the tag is gone');
  assert.equal(await upstreamStatus(`/v2/alice/tool/manifests/${keepDigest}`), 200, 'the other tag stays');
  a.assertClean();
});

test('anonymous sees only public repositories and is asked to log in elsewhere', async (t) => {
  const w = await open(t);
  const { page } = w;
  await page.goto('/ui/');
  await eventually(async () => assert.equal(await page.getByTestId('current-user').textContent(), 'anonymous'));
  assert.deepEqual(await listedRepositories(page, ANONYMOUS_SEES.length), ANONYMOUS_SEES);
  assert.equal(await page.getByRole('link', { name: 'Log in' }).count(), 1);
  assert.equal(await page.getByRole('button', { name: 'Log out' }).count(), 0);
  await page.getByRole('link', { name: 'public/base', exact: true }).click();
  await page.locator('#tag-table tr[data-tag="1"]').waitFor();
  // A private repository by its URL: the login page, and nothing of the repository.
  const stop = w.allow(/status of 40[134]/);
  await page.goto('/ui/repo?name=alice/app');
  await page.waitForURL((url) => url.pathname === '/ui/login');
  stop();
  assert.equal(await page.locator('#tag-table').count(), 0);
  assert.doesNotMatch((await page.locator('main').textContent()) ?? '', /sha256:/);
  w.assertClean();
});

test('logout ends the session: the old cookie replayed is refused', async (t) => {
  const w = await open(t);
  const { page } = w;
  await login(page, 'alice');
  const cookie = await sessionCookie(w);
  const asBefore = { ca: s.ca, headers: { cookie } };
  assert.equal((await request(`${origin}/ui/api/session`, asBefore)).json().user, 'alice', 'the cookie works from outside the browser too');
  await page.getByRole('button', { name: 'Log out' }).click();
  await eventually(async () => assert.equal(await page.getByTestId('current-user').textContent(), 'anonymous'));
  assert.deepEqual(await listedRepositories(page, ANONYMOUS_SEES.length), ANONYMOUS_SEES);
  assert.equal((await w.context.cookies(origin)).filter((c) => c.name === '__Host-gateway-session' && c.value).length, 0, 'the cookie is cleared');

  const session = await request(`${origin}/ui/api/session`, asBefore);
  assert.ok(session.status === 401 || (session.status === 200 && session.json().user === null), `replayed session: ${session.status} ${session.body}`);
  const repos = await request(`${origin}/ui/api/repositories`, asBefore);
  assert.ok(repos.status === 401 || JSON.stringify(repos.json().repositories) === JSON.stringify(ANONYMOUS_SEES), `replayed cookie lists ${repos.body}`);
  const del = await request(`${origin}/ui/api/manifest?name=alice/app&digest=${index.index.digest}`, { ...asBefore, method: 'DELETE', headers: { cookie, origin } });
  assert.ok([401, 403].includes(del.status), `replayed DELETE: ${del.status} ${del.body}`);
  assert.equal(await upstreamStatus(`/v2/alice/app/manifests/${index.index.digest}`), 200);

  // The same cookie put back into a browser: anonymous.
  const again = await open(t);
  await again.context.addCookies([{ name: '__Host-gateway-session', value: cookie.split('=').slice(1).join('='), url: origin, secure: true, httpOnly: true, sameSite: 'Strict' }]);
  const stop = again.allow(/status of 401/);
  await again.page.goto('/ui/');
  await eventually(async () => assert.equal(await again.page.getByTestId('current-user').textContent(), 'anonymous'));
  stop();
  w.assertClean();
  again.assertClean();
});

test('the page watch catches CSP violations; the gateway sends the contract headers; only same-origin assets, JS under 150 KiB gzipped', async (t) => {
  const w = await open(t);
  const { page } = w;
  const response = await page.goto('/ui/');
  assert.ok(response);
  const headers = response.headers();
  assert.equal(headers['content-security-policy'], "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
  assert.equal(headers['x-content-type-options'], 'nosniff');
  assert.equal(headers['referrer-policy'], 'no-referrer');
  await listedRepositories(page, ANONYMOUS_SEES.length);
  w.assertClean();

  // What the helper exists for: an inline script and an inline style are blocked and reported.
  await page.evaluate(`(() => {
    const s = document.createElement('script');
    s.textContent = 'window.__inline = 1';
    document.body.appendChild(s);
    document.body.setAttribute('style', 'color: red');
  })()`);
  // And the other two kinds: a console error and an uncaught exception.
  await page.evaluate(`console.error('from the test'); setTimeout(() => { throw new Error('thrown by the test'); });`);
  await eventually(async () => {
    assert.ok(w.problems.some((p) => p.includes('console error: from the test')), w.problems.join('\n'));
    assert.ok(w.problems.some((p) => p.includes('uncaught exception in the page: Error: thrown by the test')), w.problems.join('\n'));
    assert.ok(w.problems.some((p) => p.includes('CSP violation: script-src')), w.problems.join('\n'));
    assert.ok(w.problems.some((p) => /CSP violation: style-src/.test(p)), w.problems.join('\n'));
  });
  assert.equal(await page.evaluate('window.__inline'), undefined, 'the inline script did not run');
  assert.throws(() => w.assertClean(), /CSP violation/);
  w.problems.length = 0;

  const assets = await readdir(join(ROOT, 'dist', 'web', 'assets'));
  let js = 0;
  for (const f of assets.filter((x) => x.endsWith('.js'))) js += gzipSync(await readFile(join(ROOT, 'dist', 'web', 'assets', f))).length;
  assert.ok(js > 0 && js < 150 * 1024, `JS gzipped: ${js} bytes`);
  const asset = assets.find((x) => x.endsWith('.js'))!;
  const a = await request(`${origin}/ui/assets/${asset}`, { ca: s.ca });
  assert.equal(a.status, 200);
  assert.match(String(a.headers['cache-control']), /immutable/);
  assert.equal(a.headers['x-content-type-options'], 'nosniff');
  const api = await request(`${origin}/ui/api/session`, { ca: s.ca });
  assert.match(String(api.headers['cache-control']), /no-store/);
  assert.ok((await stat(join(ROOT, 'dist', 'web', 'index.html'))).size > 0);
});

test('repositories page past 1,000: search and load more reach all 1,050 of a namespace', async (t) => {
  const image = await pushTinyImage(registry.url, 'bulk/seed', 'latest');
  const names = Array.from({ length: 1049 }, (_, i) => `bulk/r${String(i).padStart(4, '0')}`);
  await mountCopies(registry.url, image, names);
  const w = await open(t);
  const { page } = w;
  await login(page, 'admin');
  await page.getByLabel('Search repositories').fill('bulk/');
  await eventually(async () => assert.match((await page.getByTestId('repository-count').textContent()) ?? '', /^1,050 repositories match “bulk\/”/));
  const more = page.getByRole('button', { name: 'Load more' });
  for (let i = 0; i < 20 && (await more.count()) > 0; i++) {
    await more.click();
    await page.locator('#repository-list[aria-busy="false"]').waitFor();
  }
  const shown = await page.locator('#repository-list a').allTextContents();
  assert.equal(shown.length, 1050);
  assert.equal(new Set(shown).size, 1050, 'no repository twice');
  assert.deepEqual(shown, [...shown].sort(), 'sorted');
  assert.equal(shown.at(-1), 'bulk/seed');
  w.assertClean();
});

test('repositories: each row gets its tags, last push and platforms after the names, in batches (not a request per row)', async (t) => {
  const w = await open(t);
  const { page } = w;
  const asked: string[] = [];
  page.on('request', (r) => { if (r.url().includes('/ui/api/repositories/summary')) asked.push(r.url()); });
  await login(page, 'alice');
  await listedRepositories(page, ALICE_SEES.length);
  const row = (name: string) => page.locator('#repository-list li', { has: page.locator(`a:text-is("${name}")`) });
  await eventually(async () => assert.match(await row('alice/app').getByTestId('repository-facts').innerText(), /2 tags/));
  const app = await row('alice/app').getByTestId('repository-facts').innerText();
  assert.match(app, /pushed \S/);
  assert.match(app, /linux\/amd64/);
  assert.match(app, /linux\/arm64/);
  // alice/tool: 1 or 2 tags, as the delete test before this one left it.
  assert.match(await row('alice/tool').getByTestId('repository-facts').innerText(), /^[12] tags?\b/);
  assert.match(await row('public/base').getByTestId('repository-facts').innerText(), /1 tag\b/);
  assert.equal(asked.length, 1, `one batch for ${ALICE_SEES.length} rows: ${asked.join(' ')}`);
  assert.equal(new URL(asked[0]!).searchParams.getAll('name').length, ALICE_SEES.length);
  w.assertClean();
});

test('phone (390 px): the header is short, and no setup step touches its panel\'s edge', async (t) => {
  const w = await open(t, { viewport: { width: 390, height: 844 }, mobile: true });
  const { page } = w;
  await login(page, 'alice');
  await page.goto('/ui/setup');
  await page.getByTestId('ca-sha256').waitFor();
  const header = await page.locator('.site-header').boundingBox();
  t.diagnostic(`header ${header?.height} px high`);
  assert.ok(header && header.height <= 56, `the header is ${header?.height} px high: one row`);
  // Every line of text inside the open tab panel (its rendered glyph boxes, not its element's box) keeps a margin from the panel's border.
  const gaps = await page.locator('.tabpanel').first().evaluate((panel) => {
    const box = panel.getBoundingClientRect();
    const walker = document.createTreeWalker(panel, NodeFilter.SHOW_TEXT);
    const out: number[] = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.textContent?.trim()) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      for (const r of range.getClientRects()) out.push(Math.min(r.left - box.left, box.right - r.right));
    }
    return out;
  });
  assert.ok(gaps.length > 0);
  t.diagnostic(`closest to the panel edge: ${Math.min(...gaps)} px`);
  assert.ok(Math.min(...gaps) >= 4, `closest to the panel edge: ${Math.min(...gaps)} px`);
  w.assertClean();
});

test('setup: both CA SHA-256s are shown and labelled; the pull secret covers every address the certificate names', async (t) => {
  const w = await open(t);
  const { page } = w;
  await login(page, 'alice');
  await page.goto('/ui/setup');
  const fingerprint = new X509Certificate(await readFile(join(s.certs, 'ca.crt'))).fingerprint256;
  assert.equal(await page.getByTestId('ca-fingerprint').textContent(), fingerprint);
  assert.match(await page.locator('dt', { hasText: 'CA file SHA-256' }).textContent() ?? '', /CA file SHA-256/);
  const setup = (await pageFetch(page, '/ui/api/setup')).body as { registries: string[] };
  assert.equal(setup.registries[0], host);
  assert.ok(setup.registries.length > 1, JSON.stringify(setup.registries));
  await page.getByLabel('Your password').fill('alice-pw');
  await page.getByRole('button', { name: 'Make the pull secret' }).click();
  const yaml = await page.getByTestId('pull-secret-yaml').textContent();
  const encoded = /\.dockerconfigjson:\s*"?([A-Za-z0-9+/=]+)"?/.exec(yaml ?? '')?.[1];
  assert.deepEqual(Object.keys(JSON.parse(Buffer.from(encoded!, 'base64').toString()).auths), setup.registries);
  w.assertClean();
});

test('token mode: log in with the form; the imagePullSecret is built on a pull-only token that /token accepts, never on the password', async (t) => {
  const port = await freePort();
  const service = `127.0.0.1:${port}`;
  const tokenGw = await startGateway(s.work, {
    listen: service,
    upstream: registry.url,
    tls: s.tls,
    auth: { mode: 'token', htpasswd: s.htpasswd, token: { service, signingKey: join(s.certs, 'token.key') } },
    access,
  });
  t.after(async () => void (await tokenGw.stop()));
  const w = await openPage(browser, { origin: tokenGw.url });
  t.after(() => w.close());
  const { page } = w;
  await login(page, 'alice');
  assert.deepEqual(await listedRepositories(page, ALICE_SEES.length), ALICE_SEES);
  assert.equal((await pageFetch(page, '/ui/api/session')).body.mode, 'token');
  await page.goto('/ui/setup');
  // The Secret's name is asked in token mode too, and used.
  await page.getByLabel('Secret name').fill('alice-pull');
  await page.getByRole('button', { name: 'Make the pull secret' }).click();
  const yaml = (await eventually(async () => {
    const text = await page.getByTestId('pull-secret-yaml').textContent({ timeout: 1000 });
    assert.ok(text);
    return text;
  })) as string;
  assert.match(yaml, /^ {2}name: alice-pull$/m);
  assert.doesNotMatch(yaml, /alice-pw/);
  assert.ok(!yaml.includes(Buffer.from('alice:alice-pw').toString('base64')), 'not the password, not even encoded');
  const encoded = /\.dockerconfigjson:\s*"?([A-Za-z0-9+/=]+)"?/.exec(yaml)?.[1];
  assert.ok(encoded, `no .dockerconfigjson in ${yaml}`);
  const config = JSON.parse(Buffer.from(encoded, 'base64').toString()) as { auths: Record<string, { auth: string; username?: string; password?: string }> };
  const entry = config.auths[service];
  assert.ok(entry, `the Secret is for ${service}: ${JSON.stringify(Object.keys(config.auths))}`);
  const [user, secret] = [Buffer.from(entry.auth, 'base64').toString().split(':')[0], Buffer.from(entry.auth, 'base64').toString().split(':').slice(1).join(':')];
  assert.equal(user, 'alice');
  assert.notEqual(secret, 'alice-pw');
  // What kubelet does with it: Basic at /token, for a pull.
  const issued = await request(`${tokenGw.url}/token?service=${service}&scope=repository:alice/app:pull,push`, { ca: s.ca, user: `alice:${secret}` });
  assert.equal(issued.status, 200, `/token with the Secret's credentials: ${issued.status} ${issued.body}`);
  const claims = JSON.parse(Buffer.from(String(issued.json().token).split('.')[1]!, 'base64url').toString()) as { access: { name: string; actions: string[] }[] };
  assert.deepEqual(claims.access.find((a) => a.name === 'alice/app')?.actions, ['pull'], 'pull-only, though alice herself may push');
  w.assertClean();
});

test('screenshots of the main pages (light, dark, phone): rendered without problems', async (t) => {
  const pages: [string, Partial<PageOptions>, (p: Page) => Promise<void>][] = [
    ['login', {}, async (p) => { await p.goto('/ui/login'); await p.getByLabel('Username', { exact: true }).waitFor(); }],
    ['repositories', {}, async (p) => { await login(p, 'alice'); await listedRepositories(p, ALICE_SEES.length); await eventually(async () => assert.match(await p.getByTestId('repository-facts').first().innerText(), /tag/)); }],
    ['tags', {}, async (p) => { await login(p, 'alice'); await p.goto('/ui/repo?name=alice/app'); await p.locator('#tag-table tr[data-tag="2"]').waitFor(); }],
    ['manifest-multiplatform', {}, async (p) => {
      await login(p, 'alice');
      await p.goto('/ui/manifest?name=alice/app&ref=1');
      await eventually(async () => assert.equal(await p.getByTestId('platform').count(), 2));
      await p.locator('details.config-details').first().evaluate((d) => d.setAttribute('open', ''));
    }],
    ['setup', {}, async (p) => { await login(p, 'alice'); await p.goto('/ui/setup'); await p.getByTestId('ca-sha256').waitFor(); await p.getByTestId('certificate').waitFor(); }],
    ['repositories-dark', { colorScheme: 'dark' }, async (p) => { await login(p, 'alice'); await listedRepositories(p, ALICE_SEES.length); }],
    ['manifest-dark', { colorScheme: 'dark' }, async (p) => { await login(p, 'alice'); await p.goto('/ui/manifest?name=alice/app&ref=1'); await eventually(async () => assert.equal(await p.getByTestId('platform').count(), 2)); }],
    ['manifest-phone', { viewport: { width: 390, height: 844 }, mobile: true }, async (p) => { await login(p, 'alice'); await p.goto('/ui/manifest?name=alice/app&ref=1'); await eventually(async () => assert.equal(await p.getByTestId('platform').count(), 2)); }],
    ['tags-phone', { viewport: { width: 390, height: 844 }, mobile: true }, async (p) => { await login(p, 'alice'); await p.goto('/ui/repo?name=alice/app'); await p.locator('#tag-table tr[data-tag="2"]').waitFor(); }],
    ['setup-phone', { viewport: { width: 390, height: 844 }, mobile: true }, async (p) => { await login(p, 'alice'); await p.goto('/ui/setup'); await p.getByTestId('ca-sha256').waitFor(); }],
    ['repositories-phone', { viewport: { width: 390, height: 844 }, mobile: true }, async (p) => { await login(p, 'alice'); await listedRepositories(p, ALICE_SEES.length); await eventually(async () => assert.equal(await p.locator('#repository-list [aria-busy="true"]').count(), 0)); }],
  ];
  for (const [name, opts, prepare] of pages) {
    const w = await open(t, opts);
    await prepare(w.page);
    await shot(w.page, name);
    // Nothing wider than the viewport: a phone never scrolls sideways.
    const overflow = await w.page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth') as number;
    assert.ok(overflow <= 0, `${name}: the page is ${overflow}px wider than the viewport`);
    w.assertClean();
    await w.close();
  }
  const expected = pages.map(([n]) => `${n}.png`).sort();
  const written = (await readdir(shots.dir)).filter((f) => f.endsWith('.png')).sort();
  // docs/screenshots/ holds exactly this set: no stale picture stays in the README's folder.
  if (shots.committed) assert.deepEqual(written, expected);
  for (const f of expected) assert.ok((await stat(join(shots.dir, f))).size > 5_000, `${f} is not blank`);
  t.diagnostic(`screenshots in ${shots.dir}${shots.committed ? ' (committed)' : ' (UPDATE_SCREENSHOTS=1 writes docs/screenshots/, SCREENSHOT_DIR=DIR keeps them there)'}`);
});
