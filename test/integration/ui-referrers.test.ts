// The web UI's referrers panel over distribution 2.8 (Debian's
// docker-registry, no referrers API), in Debian's headless Chromium: an
// artifact pushed through the gateway with a subject is listed on its
// subject's manifest page, because the gateway keeps the subject's fallback
// index (proxy/referrers.ts); an image nothing refers to says so.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { startGateway } from '../helpers/gateway.js';
import { request } from '../helpers/https.js';
import { startRegistry } from '../helpers/registry.js';
import { stage } from '../helpers/stage.js';
import { launchChromium, openPage, spkiSha256 } from '../helpers/browser.js';
import { eventually } from '../helpers/eventually.js';

const s = await stage({ alice: 'alice-pw' });
const registry = await startRegistry(s.work, { storage: join(s.work, 'storage') });
const gw = await startGateway(s.work, {
  upstream: registry.url, tls: s.tls, auth: { mode: 'htpasswd', htpasswd: s.htpasswd }, access: [{ account: 'alice', name: '**', actions: ['*'] }],
});
after(async () => {
  await gw.stop();
  await registry.stop();
});

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const EMPTY = Buffer.from('{}');
const call = (method: string, path: string, body?: Buffer, headers: Record<string, string> = {}) =>
  request(`${gw.url}${path}`, { ca: s.ca, method, user: 'alice:alice-pw', headers, ...(body ? { body } : {}) });

async function pushBlob(repo: string, blob: Buffer): Promise<void> {
  const start = await call('POST', `/v2/${repo}/blobs/uploads/`);
  const loc = new URL(start.headers.location!);
  loc.searchParams.set('digest', sha(blob));
  assert.equal((await call('PUT', loc.pathname + loc.search, blob, { 'content-type': 'application/octet-stream' })).status, 201);
}

async function pushManifest(repo: string, ref: string, extra: Record<string, unknown>): Promise<{ digest: string; body: Buffer; oci: string | undefined }> {
  const body = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: MANIFEST,
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha(EMPTY), size: EMPTY.length },
    layers: [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: sha(EMPTY), size: EMPTY.length }], ...extra,
  }));
  const r = await call('PUT', `/v2/${repo}/manifests/${ref}`, body, { 'content-type': MANIFEST });
  assert.equal(r.status, 201, r.body.toString());
  return { digest: sha(body), body, oci: r.headers['oci-subject'] as string | undefined };
}

await pushBlob('alice/signed', EMPTY);
const image = await pushManifest('alice/signed', 'v1', {});
const lonely = await pushManifest('alice/signed', 'v2', { annotations: { other: 'yes' } });
const signature = await pushManifest('alice/signed', 'signature', {
  artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
  subject: { mediaType: MANIFEST, digest: image.digest, size: image.body.length },
  annotations: { 'dev.sigstore.cosign/signature': 'MEUCIQ-test' },
});
assert.equal(signature.oci, image.digest);

const browser: Browser = await launchChromium({ trustSpki: [spkiSha256(await readFile(s.tls.cert, 'utf8'))] });
after(() => browser.close());

test('the referrers panel lists an artifact attached over distribution 2.8; an image nothing refers to says so', async (t) => {
  const w = await openPage(browser, { origin: gw.url });
  t.after(() => w.close());
  const { page } = w;
  await page.goto('/ui/login');
  await page.getByLabel('Username', { exact: true }).fill('alice');
  await page.getByLabel('Password', { exact: true }).fill('alice-pw');
  await page.keyboard.press('Enter');
  await page.waitForURL((url) => url.pathname === '/ui/');

  await page.goto('/ui/manifest?name=alice/signed&ref=v1');
  const table = page.getByTestId('referrers');
  await eventually(async () => assert.equal(await table.locator('tbody tr').count(), 1), 15_000);
  const row = await table.locator('tbody tr').first().textContent();
  assert.match(row ?? '', /application\/vnd\.dev\.cosign\.artifact\.sig\.v1\+json/);
  assert.match(row ?? '', /dev\.sigstore\.cosign\/signature/);
  assert.match(row ?? '', /MEUCIQ-test/);
  assert.equal(await table.locator(`a[href*="${signature.digest}"]`).count(), 1, 'the row links to the artifact');
  const section = page.locator('section[aria-labelledby="referrers-heading"]');
  assert.doesNotMatch((await section.textContent()) ?? '', /no referrers API/);

  await page.goto(`/ui/manifest?name=alice/signed&ref=${lonely.digest}`);
  await eventually(async () => assert.match((await section.textContent()) ?? '', /Nothing refers to this manifest/), 15_000);
  w.assertClean();
});
