// Real clients through the gateway: skopeo (containers/image) and containerd,
// each trusting only the gateway's ca.crt.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { stringify } from 'smol-toml';
import { join } from 'node:path';
import { exec, gateway as gatewayCli } from '../helpers/exec.js';
import { startGateway } from '../helpers/gateway.js';
import { buildImage, skopeoPolicy } from '../helpers/oci.js';
import { startRegistry } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';
import { startContainerd } from '../helpers/containerd.js';

const work = await tempDir();
const certs = join(work, 'certs');
const htpasswd = join(work, 'htpasswd');
assert.equal((await gatewayCli(['certs', 'init', '--dir', certs, '--host', 'localhost', '--host', '127.0.0.1'])).code, 0);
assert.equal((await gatewayCli(['users', 'add', 'alice', '--password-stdin', '--file', htpasswd], { input: 'alice-pw' })).code, 0);
const registry = await startRegistry(work, { storage: join(work, 'storage') });
const gw = await startGateway(work, {
  upstream: registry.url,
  tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') },
  auth: { mode: 'htpasswd', htpasswd },
  access: [{ account: '*', name: '**', actions: ['*'] }, { account: '', name: 'public/**', actions: ['pull'] }],
});
after(async () => {
  await gw.stop();
  await registry.stop();
});
const host = `127.0.0.1:${gw.port}`;
const trusted = join(work, 'trusted');
await mkdir(trusted);
await copyFile(join(certs, 'ca.crt'), join(trusted, 'ca.crt'));
const policy = await skopeoPolicy(work);
const env = { ...process.env, HOME: work, XDG_RUNTIME_DIR: work };
const skopeo = (args: string[]) => exec('skopeo', ['--policy', policy, ...args], { env, timeoutMs: 300_000 });
const MiB = 1024 * 1024;

async function layerDigests(layout: string, tag: string): Promise<string[]> {
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
  const desc = index.manifests.find((m: { annotations?: Record<string, string> }) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  const manifest = JSON.parse(await readFile(join(layout, 'blobs', ...desc.digest.split(':')), 'utf8'));
  return manifest.layers.map((l: { digest: string }) => l.digest);
}

const source = await buildImage(join(work, 'src'), 'v1', [24 * MiB, 20 * MiB, 10 * MiB]);
const pushed = await layerDigests(source, 'v1');

test('skopeo pushes and pulls a 54 MiB three-layer image with --creds and only ca.crt trusted', async () => {
  const push = await skopeo(['copy', '--dest-cert-dir', trusted, '--dest-creds', 'alice:alice-pw', `oci:${source}:v1`, `docker://${host}/alice/big:v1`]);
  assert.equal(push.code, 0, push.stderr);
  const dest = join(work, 'pulled');
  const pull = await skopeo(['copy', '--src-cert-dir', trusted, '--src-creds', 'alice:alice-pw', `docker://${host}/alice/big:v1`, `oci:${dest}:v1`]);
  assert.equal(pull.code, 0, pull.stderr);
  assert.deepEqual(await layerDigests(dest, 'v1'), pushed);
  assert.equal(pushed.length, 3);
  // The blobs really came through: same bytes, by digest.
  assert.deepEqual((await readdir(join(dest, 'blobs', 'sha256'))).filter((d) => pushed.includes(`sha256:${d}`)).length, 3);
});

test('skopeo with wrong or missing credentials fails with 401', async () => {
  const wrong = await skopeo(['inspect', '--cert-dir', trusted, '--creds', 'alice:nope', `docker://${host}/alice/big:v1`]);
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /401|unauthorized|authentication required/i);
  const none = await skopeo(['inspect', '--cert-dir', trusted, '--no-creds', `docker://${host}/alice/big:v1`]);
  assert.notEqual(none.code, 0);
  assert.match(none.stderr, /authentication required/, 'skopeo without credentials sends an empty Basic pair: not "malformed"');
  assert.doesNotMatch(none.stderr, /malformed/);
});

test('containerd: ctr images pull --hosts-dir --user pulls through the gateway', async () => {
  const push = await skopeo(['copy', '--dest-cert-dir', trusted, '--dest-creds', 'alice:alice-pw', `oci:${source}:v1`, `docker://${host}/alice/ctr:v1`]);
  assert.equal(push.code, 0, push.stderr);
  const root = join(work, 'containerd');
  await mkdir(join(root, 'hosts', host), { recursive: true });
  // Without a hosts.toml containerd speaks plain HTTP to loopback registries.
  await copyFile(join(certs, 'ca.crt'), join(root, 'hosts', host, 'ca.crt'));
  await writeFile(join(root, 'hosts', host, 'hosts.toml'), stringify({
    server: `https://${host}`,
    host: { [`https://${host}`]: { capabilities: ['pull', 'resolve'], ca: join(root, 'hosts', host, 'ca.crt') } },
  }));
  const { ctr, stop } = await startContainerd(root);
  try {
    const pull = await ctr(['images', 'pull', '--hosts-dir', join(root, 'hosts'), '--user', 'alice:alice-pw', `${host}/alice/ctr:v1`]);
    assert.equal(pull.code, 0, pull.stderr);
    const list = await ctr(['images', 'ls', '-q']);
    assert.match(list.stdout, new RegExp(`${host}/alice/ctr:v1`));
    const wrong = await ctr(['images', 'pull', '--hosts-dir', join(root, 'hosts'), '--user', 'alice:nope', `${host}/alice/ctr:v1`]);
    assert.notEqual(wrong.code, 0);
    const bare = join(root, 'bare', host);
    await mkdir(bare, { recursive: true });
    await writeFile(join(bare, 'hosts.toml'), stringify({ server: `https://${host}`, host: { [`https://${host}`]: { capabilities: ['pull', 'resolve'] } } }));
    const untrusted = await ctr(['images', 'pull', '--hosts-dir', join(root, 'bare'), '--user', 'alice:alice-pw', `${host}/alice/ctr:v1`]);
    assert.notEqual(untrusted.code, 0);
    assert.match(untrusted.stderr, /x509|certificate/);
  } finally {
    await stop();
  }
});
