// The container image (npm run image, scripts/image.sh): built twice from one
// snapshot of the tree into different directories, it has one digest; it is an
// OCI image index of linux/amd64 and linux/arm64, each ELF file of a platform's
// rootfs is for that machine, and the arm64 one runs under qemu-user; its
// config and layers are what the contract says; skopeo pushes the index (--all)
// through a running gateway and pulls it back unchanged; containerd imports it;
// podman pulls it through that gateway, takes the amd64 image, and runs it under a real OCI runtime as uid 65532 with a read-only
// root and the config, certificates and users mounted at the contract's paths,
// where it serves /livez, takes pushes and pulls, and exits 0 on SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createReadStream, rmSync } from 'node:fs';
import { chmod, chown, copyFile, cp, mkdir, mkdtemp, open, readFile, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { extract } from 'tar-stream';
import { cleanupList, onExit } from '../helpers/cleanup.js';
import { exec, gateway as gatewayCli, ROOT } from '../helpers/exec.js';
import { startGateway } from '../helpers/gateway.js';
import { request } from '../helpers/https.js';
import { startContainerd } from '../helpers/containerd.js';
import { imageSnapshot, unpackImage } from '../helpers/image.js';
import { buildImage, skopeoPolicy } from '../helpers/oci.js';
import { privatePodman } from '../helpers/podman.js';
import { freePort, startRegistry } from '../helpers/registry.js';

const started = Date.now();
// Removed last (cleanup runs its list backwards): podman's storage must
// outlive the containers and images removed before it.
const cleanup = cleanupList();
const work = await mkdtemp(join(tmpdir(), 'gw-image-'));
const forgetWork = onExit(() => rmSync(work, { recursive: true, force: true }));
cleanup.push(async () => {
  await rm(work, { recursive: true, force: true });
  forgetWork();
});

const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string; license: string; dependencies: Record<string, string>; devDependencies: Record<string, string> };
const version = pkg.version;
const nodeVersion = /NODE24_VERSION=(\S+)/.exec(await readFile(join(ROOT, 'scripts/node24.sh'), 'utf8'))![1]!;

// Both builds read one snapshot of the tree (test/helpers/image.ts).
const { tree, epoch, revision, env: buildEnv, build } = await imageSnapshot(work);
// The source label comes from package.json's repository, as npm writes it (git+https://...git), as the URL a browser opens.
const snapshotPkg = JSON.parse(await readFile(join(tree, 'package.json'), 'utf8')) as Record<string, unknown>;
snapshotPkg.repository = { type: 'git', url: 'git+https://git.example.test/platform/registry-gateway.git' };
await writeFile(join(tree, 'package.json'), `${JSON.stringify(snapshotPkg, null, 2)}\n`);
const [first, second] = await Promise.all([build(join(work, 'out1')), build(join(work, 'out2'))]);
const layout = join(work, 'out1', 'oci');

interface Descriptor { mediaType: string; digest: string; size: number; annotations?: Record<string, string>; platform?: { architecture: string; os: string } }
interface Image {
  /** What the tag names: the image index (or, for a single-platform layout, the manifest). */
  digest: string;
  index: { manifests: Descriptor[] };
  /** The image index the tag names (undefined when it names a manifest). */
  list?: { mediaType: string; manifests: Descriptor[]; annotations?: Record<string, string> };
  /** The platform's manifest, its digest and config. */
  manifestDigest: string;
  manifest: { config: Descriptor; layers: Descriptor[]; annotations?: Record<string, string> };
  config: { created: string; architecture: string; os: string; config: Record<string, any>; rootfs: { diff_ids: string[] }; history: unknown[] };
}
const INDEX = 'application/vnd.oci.image.index.v1+json';
const blob = (dir: string, digest: string) => join(dir, 'blobs', ...digest.split(':'));
async function readImage(dir: string, tag: string, arch = 'amd64'): Promise<Image> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
  const desc = index.manifests.find((m: Descriptor) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  assert.ok(desc, `no ${tag} in ${dir}/index.json: ${JSON.stringify(index)}`);
  let list: Image['list'];
  let manifestDigest = desc.digest as string;
  if (desc.mediaType === INDEX) {
    list = JSON.parse(await readFile(blob(dir, desc.digest), 'utf8'));
    const found = list!.manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === arch);
    assert.ok(found, `no linux/${arch} in the index of ${tag}: ${JSON.stringify(list)}`);
    manifestDigest = found.digest;
  }
  const manifest = JSON.parse(await readFile(blob(dir, manifestDigest), 'utf8'));
  const config = JSON.parse(await readFile(blob(dir, manifest.config.digest), 'utf8'));
  return { digest: desc.digest, index, list, manifestDigest, manifest, config };
}
// The tag: the version and the commit (scripts/image.sh), so a rebuild of a new commit is a new tag.
const tag = `${version}-${revision.slice(0, 12)}`;
const image = await readImage(layout, tag);
const arm = await readImage(layout, tag, 'arm64');
// Each platform's rootfs, unpacked (with tar: umoci unpack takes no index); removed by the last test that uses them.
const rootfs = {
  amd64: await unpackImage(layout, tag, 'amd64', join(work, 'rootfs-amd64')),
  arm64: await unpackImage(layout, tag, 'arm64', join(work, 'rootfs-arm64')),
};

interface Entry { name: string; type: string; mode: number; uid: number; gid: number; mtime: number; linkname: string | null; body?: string }
/** Every entry of a gzip layer; the bodies of small text files under etc/. */
function entries(path: string): Promise<Entry[]> {
  return new Promise((resolve, reject) => {
    const list: Entry[] = [];
    const ex = extract();
    ex.on('entry', (h, stream, next) => {
      const e: Entry = { name: h.name, type: h.type ?? 'file', mode: h.mode ?? 0, uid: h.uid ?? -1, gid: h.gid ?? -1, mtime: (h.mtime?.getTime() ?? -1) / 1000, linkname: h.linkname ?? null };
      const chunks: Buffer[] = [];
      const keep = e.name.startsWith('etc/') && (h.size ?? 0) < 4096;
      stream.on('data', (c: unknown) => {
        if (keep) chunks.push(c as Buffer);
      });
      stream.on('end', () => {
        if (keep) e.body = Buffer.concat(chunks).toString();
        list.push(e);
        next();
      });
      stream.resume();
    });
    ex.on('finish', () => resolve(list));
    ex.on('error', reject);
    createReadStream(path).on('error', reject).pipe(createGunzip()).on('error', reject).pipe(ex);
  });
}

// All set up before the first test is declared: node:test runs the file's
// after-hooks once every declared test is done, even if more setup follows.
// A registry and a gateway in front of it (processes on this machine).
const certs = join(work, 'certs');
const htpasswd = join(work, 'htpasswd');
assert.equal((await gatewayCli(['certs', 'init', '--dir', certs, '--host', 'localhost', '--host', '127.0.0.1'])).code, 0);
assert.equal((await gatewayCli(['users', 'add', 'alice', '--password-stdin', '--file', htpasswd, '--cost', '4'], { input: 'alice-pw' })).code, 0);
const registry = await startRegistry(work, { storage: join(work, 'storage') });
cleanup.push(() => registry.stop());
const access = [{ account: '*', name: '**', actions: ['*'] }];
const gw = await startGateway(work, { upstream: registry.url, tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') }, auth: { mode: 'htpasswd', htpasswd }, access });
cleanup.push(() => gw.stop());
const ca = await readFile(join(certs, 'ca.crt'), 'utf8');
const trusted = join(work, 'trusted');
await mkdir(trusted);
await copyFile(join(certs, 'ca.crt'), join(trusted, 'ca.crt'));
const policy = await skopeoPolicy(work);

const pm = await privatePodman(join(work, 'podman'));
const forgetPodman = onExit(() => pm.resetSync());
cleanup.push(async () => {
  await pm.reset();
  forgetPodman();
});
const skopeo = (args: string[]) => pm.wrapped('skopeo', ['--policy', policy, ...args]);
const ref = `127.0.0.1:${gw.port}/alice/registry-gateway:${version}`;

test('npm run image runs scripts/image.sh, and a missing tool is named with its Debian package', async () => {
  assert.equal((pkg as unknown as { scripts: Record<string, string> }).scripts.image, 'bash scripts/image.sh');
  const bin = join(work, 'bin-without-umoci');
  await mkdir(bin);
  for (const cmd of ['dirname']) await symlink(`/usr/bin/${cmd}`, join(bin, cmd));
  const r = await exec('/bin/bash', [join(tree, 'scripts/image.sh'), '--out', join(work, 'never')], { env: { ...buildEnv, PATH: bin } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /needs 'umoci' from the Debian package umoci: install it with apt-get install -y umoci/);
  const bad = await exec('bash', [join(tree, 'scripts/image.sh'), '--bogus'], { env: buildEnv });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /unknown argument '--bogus'/);
});

test('two builds of one tree, in different directories, give one digest', async (t) => {
  const again = await readImage(join(work, 'out2', 'oci'), tag);
  t.diagnostic(`builds (in parallel): ${first.ms} ms and ${second.ms} ms; digests ${image.digest} and ${again.digest}`);
  assert.equal(again.digest, image.digest);
  assert.deepEqual((await readdir(join(work, 'out2', 'oci', 'blobs', 'sha256'))).sort(), (await readdir(join(layout, 'blobs', 'sha256'))).sort());
  // The script says what it built, and the staging directories are gone.
  assert.match(first.stdout, new RegExp(`digest\\s+${image.digest}`));
  for (const [arch, img] of [['amd64', image], ['arm64', arm]] as const) {
    assert.match(first.stdout, new RegExp(`platform linux/${arch} ${img.manifestDigest}, [\\d.]+ MiB compressed, [\\d.]+ MiB unpacked, 3 layers\n`));
  }
  assert.deepEqual((await readdir(join(work, 'out1'))).sort(), ['image.json', 'oci', 'sbom.cdx.json']);
  assert.match(first.stdout, new RegExp(`image\\s+registry-gateway:${tag.replaceAll('.', '\\.')} \\(an OCI image index: linux/amd64, linux/arm64\\)\n`));
});

test('beside the image: image.json (tag and digest, for gateway deploy kubernetes) and a CycloneDX SBOM of what is in it', async () => {
  assert.match(tag, /^\d+\.\d+\.\d+-[0-9a-f]{12}$/, 'version-commit');
  const described = JSON.parse(await readFile(join(work, 'out1', 'image.json'), 'utf8'));
  // digest: the index's (what Kubernetes renders: each node pulls its platform's manifest); platforms: each manifest's.
  assert.deepEqual(described, { name: 'registry-gateway', tag, digest: image.digest, revision,
    platforms: { 'linux/amd64': image.manifestDigest, 'linux/arm64': arm.manifestDigest } });
  const sbom = JSON.parse(await readFile(join(work, 'out1', 'sbom.cdx.json'), 'utf8'));
  assert.equal(sbom.bomFormat, 'CycloneDX');
  assert.equal(sbom.metadata.component.name, 'registry-gateway');
  assert.equal(sbom.metadata.timestamp, image.config.created, 'no build time');
  assert.deepEqual(JSON.parse(await readFile(join(work, 'out2', 'sbom.cdx.json'), 'utf8')), sbom, 'two builds, one SBOM');
  const names = new Set((sbom.components as { name: string }[]).map((c) => c.name));
  for (const dep of Object.keys(pkg.dependencies)) assert.ok(names.has(dep.replace(/^@[^/]+\//, '')) || names.has(dep), `${dep} in the SBOM`);
  for (const dev of ['typescript', 'vite', 'playwright-core']) assert.ok(!names.has(dev), `no devDependency ${dev} in the SBOM`);
  // gateway deploy kubernetes renders the built image by tag and digest (dist/image/image.json of the checkout it runs from).
  const scratch = join(work, 'deploy-digest');
  await mkdir(join(scratch, 'pkg', 'dist', 'image'), { recursive: true });
  await cp(join(ROOT, 'dist'), join(scratch, 'pkg', 'dist'), { recursive: true });
  await cp(join(ROOT, 'deploy'), join(scratch, 'pkg', 'deploy'), { recursive: true });
  await copyFile(join(ROOT, 'package.json'), join(scratch, 'pkg', 'package.json'));
  await symlink(join(ROOT, 'node_modules'), join(scratch, 'pkg', 'node_modules'));
  await copyFile(join(work, 'out1', 'image.json'), join(scratch, 'pkg', 'dist', 'image', 'image.json'));
  assert.equal((await exec(process.execPath, [join(scratch, 'pkg', 'dist', 'cli', 'main.js'), 'certs', 'init', '--dir', join(scratch, 'certs'),
    '--host', 'registry-gateway.registry-gateway.svc.cluster.local'], { cwd: scratch })).code, 0);
  await writeFile(join(scratch, 'gw.yaml'), 'auth:\n  mode: none\n');
  const deployed = await exec(process.execPath, [join(scratch, 'pkg', 'dist', 'cli', 'main.js'), 'deploy', 'kubernetes', '--out', 'k8s',
    '--certs', 'certs', '--config', 'gw.yaml', '--single'], { cwd: scratch, input: '' });
  assert.equal(deployed.code, 0, deployed.stderr);
  const kustomization = await readFile(join(scratch, 'k8s', 'kustomization.yaml'), 'utf8');
  assert.match(kustomization, new RegExp(`newTag: "${tag}"`));
  assert.match(kustomization, new RegExp(`digest: "${image.digest}"`));
});

test('the image config: uid 65532, node entrypoint, serve the mounted config, ports, labels', async () => {
  const { config, manifest, index } = image;
  const c = config.config;
  assert.equal(c.User, '65532:65532');
  assert.equal(c.WorkingDir, '/app');
  assert.deepEqual(c.Entrypoint, ['/usr/local/bin/node', '/app/dist/cli/main.js']);
  assert.deepEqual(c.Cmd, ['serve', '--config', '/etc/gateway/config/gateway.yaml']);
  assert.ok(c.Env.includes('NODE_ENV=production'), c.Env.join(' '));
  assert.ok(c.Env.some((e: string) => /^PATH=(.*:)?\/usr\/local\/bin(:|$)/.test(e)), c.Env.join(' '));
  assert.deepEqual(Object.keys(c.ExposedPorts).sort(), ['5443/tcp', '9464/tcp']);
  assert.equal(c.StopSignal, 'SIGTERM');
  const labels = c.Labels as Record<string, string>;
  assert.equal(labels['org.opencontainers.image.version'], version);
  assert.equal(labels['org.opencontainers.image.licenses'], 'Apache-2.0');
  assert.equal(labels['org.opencontainers.image.title'], 'registry-gateway');
  assert.equal(labels['org.opencontainers.image.revision'], revision);
  assert.equal(labels['org.opencontainers.image.source'], 'https://git.example.test/platform/registry-gateway');
  assert.deepEqual(manifest.annotations, labels);
  assert.equal(config.architecture, 'amd64');
  assert.equal(config.os, 'linux');
  // No build time anywhere: the last commit's.
  assert.equal(config.created, new Date(epoch * 1000).toISOString().replace('.000Z', 'Z'));
  assert.equal(config.history.length, 3);
  assert.equal(manifest.layers.length, 3);
  assert.ok(manifest.layers.every((l) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar+gzip'));
  assert.equal(index.manifests[0]!.annotations!['io.containerd.image.name'], `docker.io/library/registry-gateway:${tag}`);
  assert.ok(c.Env.includes(`GATEWAY_REVISION=${revision}`), 'registry_gateway_build_info{revision} from the image');

  // The Containerfile says the same (an engine-built image must not drift).
  const file = await readFile(join(ROOT, 'Containerfile'), 'utf8');
  const final = file.slice(file.lastIndexOf('\nFROM ')).split('\n');
  assert.equal(final[1], 'FROM scratch');
  const line = (word: string) => [...final].reverse().find((l) => l.startsWith(`${word} `))?.slice(word.length + 1).trim();
  assert.deepEqual(JSON.parse(line('ENTRYPOINT')!), c.Entrypoint);
  assert.deepEqual(JSON.parse(line('CMD')!), c.Cmd);
  assert.equal(line('USER'), c.User);
  assert.equal(line('WORKDIR'), c.WorkingDir);
  assert.deepEqual(line('EXPOSE')!.split(/\s+/).sort(), Object.keys(c.ExposedPorts).sort());
  assert.match(file, new RegExp(`^ARG VERSION=${version.replaceAll('.', '\\.')}$`, 'm'));
  assert.match(file, new RegExp(`^ARG NODE_VERSION=${nodeVersion.replaceAll('.', '\\.')}$`, 'm'));
});

test('the layers: node and its Debian libraries, production node_modules only, the built gateway; root-owned, read-only, one time', async () => {
  const [base, modules, app] = await Promise.all(image.manifest.layers.map((l) => entries(blob(layout, l.digest))));
  const names = (list: Entry[]) => new Set(list.map((e) => e.name.replace(/\/$/, '')));
  const all = [...base!, ...modules!, ...app!];
  for (const e of all) {
    assert.ok(!e.name.startsWith('/') && !e.name.startsWith('./') && !e.name.split('/').includes('..'), e.name);
    assert.equal(e.uid, 0, e.name);
    assert.equal(e.gid, 0, e.name);
    assert.equal(e.mtime, epoch, e.name);
    if (e.type !== 'symlink') assert.equal(e.mode & 0o022, 0, `${e.name} is writable by group or others: ${e.mode.toString(8)}`);
  }

  const b = names(base!);
  for (const p of ['usr/local/bin/node', 'usr/lib/x86_64-linux-gnu/libc.so.6', 'usr/lib/x86_64-linux-gnu/libstdc++.so.6', 'usr/lib/x86_64-linux-gnu/libgcc_s.so.1',
    'usr/lib/x86_64-linux-gnu/libm.so.6', 'usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', 'usr/lib64/ld-linux-x86-64.so.2', 'lib', 'lib64',
    'usr/share/doc/libc6/copyright', 'usr/share/doc/libstdc++6/copyright', 'var/lib/dpkg/status.d/libc6', 'usr/local/share/doc/node/LICENSE',
    'etc/gateway/config', 'etc/gateway/certs', 'etc/gateway/users', 'etc/gateway/token', 'app']) assert.ok(b.has(p), `base layer lacks ${p}`);
  // No shell, no package manager: node is the only program.
  for (const p of ['bin/sh', 'usr/bin/sh', 'usr/bin/bash', 'usr/bin/apt', 'usr/bin/dpkg', 'tmp']) assert.ok(!b.has(p), `base layer has ${p}`);
  const etc = (n: string) => base!.find((e) => e.name === n)!.body!;
  assert.match(etc('etc/passwd'), /^gateway:x:65532:65532:/m);
  assert.match(etc('etc/group'), /^gateway:x:65532:/m);

  const m = names(modules!);
  assert.ok([...m].every((p) => p === 'app' || p.startsWith('app/node_modules')), 'layer 2 is node_modules only');
  for (const dep of Object.keys(pkg.dependencies)) assert.ok(m.has(`app/node_modules/${dep}/package.json`), `production dependency ${dep} missing`);
  for (const dep of Object.keys(pkg.devDependencies)) assert.ok(!m.has(`app/node_modules/${dep}`), `devDependency ${dep} is in the image`);
  const lock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  const devOnly = Object.entries(lock.packages).filter(([p, meta]) => p && meta.dev).map(([p]) => `app/${p}`);
  assert.ok(devOnly.length > 0);
  assert.deepEqual(devOnly.filter((p) => m.has(p)), [], 'dev-only packages of the lockfile are in the image');
  for (const p of ['typescript', 'tsx', 'fast-check', 'esbuild', '@types/node']) assert.ok(!m.has(`app/node_modules/${p}`), p);
  assert.ok(!m.has('app/node_modules/.bin'));

  const a = names(app!);
  for (const p of ['app/dist/cli/main.js', 'app/dist/cli/serve.js', 'app/dist/web/index.html', 'app/package.json', 'app/package-lock.json']) assert.ok(a.has(p), `app layer lacks ${p}`);
  assert.deepEqual([...a].filter((p) => p.endsWith('.map') || p.endsWith('.ts')), []);
  assert.ok([...a].every((p) => p === 'app' || p.startsWith('app/dist') || p === 'app/package.json' || p === 'app/package-lock.json'), [...a].join(' '));
});

test('an OCI image index of linux/amd64 and linux/arm64: one base layer each, the same node_modules and gateway layers', async () => {
  assert.equal(image.index.manifests.length, 1, 'index.json names the index only');
  const top = image.index.manifests[0]!;
  assert.equal(top.mediaType, INDEX);
  assert.equal(top.annotations!['org.opencontainers.image.ref.name'], tag);
  const list = image.list!;
  assert.equal(list.mediaType, INDEX);
  assert.deepEqual(list.manifests.map((m) => m.platform), [{ architecture: 'amd64', os: 'linux' }, { architecture: 'arm64', os: 'linux' }]);
  assert.ok(list.manifests.every((m) => m.mediaType === 'application/vnd.oci.image.manifest.v1+json'));
  assert.deepEqual(list.manifests.map((m) => m.digest), [image.manifestDigest, arm.manifestDigest]);
  assert.equal(list.annotations!['org.opencontainers.image.revision'], revision);
  assert.equal(arm.config.architecture, 'arm64');
  assert.equal(arm.config.os, 'linux');
  assert.deepEqual(arm.config.config, image.config.config, 'one entrypoint, user, environment and labels for both');
  assert.notEqual(arm.manifest.layers[0]!.digest, image.manifest.layers[0]!.digest);
  assert.deepEqual(arm.manifest.layers.slice(1), image.manifest.layers.slice(1), 'layers 2 and 3 are shared blobs');
  // The arm64 base: Debian's arm64 libraries, with their dpkg status and copyright files.
  const b = new Set((await entries(blob(layout, arm.manifest.layers[0]!.digest))).map((e) => e.name.replace(/\/$/, '')));
  for (const p of ['usr/local/bin/node', 'usr/lib/aarch64-linux-gnu/libc.so.6', 'usr/lib/aarch64-linux-gnu/libstdc++.so.6', 'usr/lib/aarch64-linux-gnu/libgcc_s.so.1',
    'usr/lib/aarch64-linux-gnu/libm.so.6', 'usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1', 'usr/lib/ld-linux-aarch64.so.1', 'lib',
    'usr/share/doc/libc6/copyright', 'usr/share/doc/libstdc++6/copyright', 'usr/share/doc/libgcc-s1/copyright', 'var/lib/dpkg/status.d/libc6',
    'var/lib/dpkg/status.d/libstdc++6', 'usr/local/share/doc/node/LICENSE', 'etc/passwd', 'etc/gateway/config', 'app']) assert.ok(b.has(p), `arm64 base layer lacks ${p}`);
  assert.deepEqual([...b].filter((p) => p.includes('x86_64')), [], 'nothing of amd64 in the arm64 base');
  // The arm64 packages are the versions installed here (the amd64 image's), as their status says.
  const status = async (img: Image, name: string) => {
    const r = await exec('tar', ['-xzOf', blob(layout, img.manifest.layers[0]!.digest), `var/lib/dpkg/status.d/${name}`]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  for (const name of ['libc6', 'libstdc++6', 'libgcc-s1']) {
    const [amd, a64] = await Promise.all([status(image, name), status(arm, name)]);
    const field = (text: string, f: string) => new RegExp(`^${f}: (.*)$`, 'm').exec(text)?.[1];
    assert.equal(field(a64, 'Version'), field(amd, 'Version'), name);
    assert.equal(field(a64, 'Architecture'), 'arm64', name);
    assert.equal(field(amd, 'Architecture'), 'amd64', name);
    assert.equal(field(a64, 'Status'), 'install ok installed', name);
  }
  // The arm64 packages came through a private apt state: this machine's dpkg still knows amd64 only.
  const foreignArchs = await exec('dpkg', ['--print-foreign-architectures']);
  assert.equal(foreignArchs.code, 0);
  assert.equal(foreignArchs.stdout.trim(), '', 'no dpkg --add-architecture');
  const notInstalled = await exec('bash', [join(tree, 'scripts/image/debs.sh'), 'arm64', 'no-such-package-gw']);
  assert.equal(notInstalled.code, 1);
  assert.match(notInstalled.stderr, /no-such-package-gw is not installed on this machine: its arm64 twin is taken at the installed version/);
  // A platform that is not one is named.
  const bad = await exec('bash', [join(tree, 'scripts/image.sh'), '--out', join(work, 'never'), '--platform', 's390x'], { env: buildEnv });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /unknown platform 's390x': give amd64, arm64 or all/);
});

/** Every ELF file under ROOT (by its magic number), with the machine readelf -h names. */
async function elfMachines(root: string): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (const e of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath, e.name);
    const fh = await open(path, 'r');
    const magic = Buffer.alloc(4);
    await fh.read(magic, 0, 4, 0).finally(() => fh.close());
    if (!magic.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) continue;
    const r = await exec('readelf', ['-h', path], { env: { ...process.env, LC_ALL: 'C' } });
    assert.equal(r.code, 0, r.stderr);
    found.set(path.slice(root.length + 1), /^\s*Machine:\s*(.*)$/m.exec(r.stdout)![1]!.trim());
  }
  return found;
}


test('every ELF file of the amd64 base is x86-64, every one of the arm64 base AArch64 (readelf -h); node_modules has only every platform\'s prebuilds', async (t) => {
  for (const [arch, machine] of [['amd64', 'Advanced Micro Devices X86-64'], ['arm64', 'AArch64']] as const) {
    const all = await elfMachines(rootfs[arch]);
    const base = new Map([...all].filter(([p]) => !p.startsWith('app/')));
    for (const p of ['usr/local/bin/node', `usr/lib/${arch === 'amd64' ? 'x86_64' : 'aarch64'}-linux-gnu/libc.so.6`]) assert.ok(base.has(p), `${arch}: no ELF ${p}`);
    assert.ok(base.size >= 7, `${arch}: ${[...base.keys()].join(' ')}`);
    assert.deepEqual([...base].filter(([, m]) => m !== machine), [], `${arch}: ELF files for another machine`);
    // The shared layers: machine code only in prebuilds/PLATFORM/ of packages that have linux-x64 and linux-arm64 both (image.sh checks it).
    const shared = [...all.keys()].filter((p) => p.startsWith('app/'));
    for (const p of shared) {
      const dir = /^(.*\/prebuilds)\/[^/]+\//.exec(p)?.[1];
      assert.ok(dir, `${p} is machine code outside a prebuilds/ directory`);
      assert.deepEqual((await readdir(join(rootfs[arch], dir))).filter((d) => d === 'linux-x64' || d === 'linux-arm64').sort(), ['linux-arm64', 'linux-x64'], p);
    }
    t.diagnostic(`${arch}: ${base.size} ELF files in the base, ${shared.length} prebuilt (every platform's) in node_modules`);
  }
});

test(`the unpacked amd64 rootfs runs node ${nodeVersion} and the entrypoint as uid 65532, with nothing from the host`, async () => {
  const node = await exec('chroot', ['--userspec=65532:65532', rootfs.amd64, '/usr/local/bin/node', '-p', 'process.version + " " + require("os").userInfo().username']);
  assert.equal(node.code, 0, node.stderr);
  assert.equal(node.stdout.trim(), `v${nodeVersion} gateway`);
  const cli = await exec('chroot', ['--userspec=65532:65532', rootfs.amd64, '/usr/local/bin/node', '/app/dist/cli/main.js', '--version']);
  assert.equal(cli.code, 0, cli.stderr);
  assert.equal(cli.stdout.trim(), version);
  await rm(join(work, 'rootfs-amd64'), { recursive: true, force: true });
});

test('the arm64 rootfs runs under qemu-user (chroot, uid 65532): node, the entrypoint, and serve answering /livez', async (t) => {
  // The emulator is static, so it runs inside the image's root with nothing else from the host.
  const root = rootfs.arm64;
  await copyFile('/usr/bin/qemu-aarch64-static', join(root, 'qemu-aarch64-static'));
  await chmod(join(root, 'qemu-aarch64-static'), 0o755);
  const run = (args: string[]) => exec('chroot', ['--userspec=65532:65532', root, '/qemu-aarch64-static', '/usr/local/bin/node', ...args], { timeoutMs: 120_000 });
  const node = await run(['-p', 'process.version + " " + process.arch + " " + require("os").userInfo().username']);
  assert.equal(node.code, 0, node.stderr);
  assert.equal(node.stdout.trim(), `v${nodeVersion} arm64 gateway`);
  const cli = await run(['/app/dist/cli/main.js', '--version']);
  assert.equal(cli.code, 0, cli.stderr);
  assert.equal(cli.stdout.trim(), version);

  // serve, with the config, certificates and users at the image's paths, in front of the test's registry.
  for (const f of ['server.crt', 'server.key']) await copyFile(join(certs, f), join(root, 'etc/gateway/certs', f));
  await copyFile(htpasswd, join(root, 'etc/gateway/users/htpasswd'));
  const port = await freePort();
  await writeFile(join(root, 'etc/gateway/config/gateway.yaml'), JSON.stringify({ listen: `127.0.0.1:${port}`, upstream: registry.url,
    tls: { cert: '/etc/gateway/certs/server.crt', key: '/etc/gateway/certs/server.key' }, auth: { mode: 'htpasswd', htpasswd: '/etc/gateway/users/htpasswd' }, access }));
  await exec('chmod', ['-R', 'a+rX', join(root, 'etc/gateway')]);
  const t0 = Date.now();
  const child = spawn('chroot', ['--userspec=65532:65532', root, '/qemu-aarch64-static', '/usr/local/bin/node', '/app/dist/cli/main.js',
    'serve', '--config', '/etc/gateway/config/gateway.yaml'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const forget = onExit(() => child.kill('SIGKILL'));
  try {
    const deadline = Date.now() + 120_000;
    while (!out.includes('"msg":"gateway started"')) {
      assert.equal(child.exitCode, null, `the arm64 gateway exited: ${out}`);
      assert.ok(Date.now() < deadline, `the arm64 gateway did not start in 120 s: ${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    t.diagnostic(`arm64 gateway under qemu started in ${Date.now() - t0} ms`);
    assert.equal((await request(`https://127.0.0.1:${port}/livez`, { ca })).status, 200);
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([exited, new Promise<string>((r) => (timer = setTimeout(() => r('still running 60 s after SIGTERM'), 60_000)))]);
    clearTimeout(timer);
    assert.equal(code, 0, `exit after SIGTERM: ${code}\n${out}`);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
    forget();
    await rm(join(work, 'rootfs-arm64'), { recursive: true, force: true });
  }
});

test('containerd imports the layout (ctr images import): the index with both platforms, this machine\'s unpacked', async () => {
  const dir = join(work, 'containerd');
  await mkdir(dir);
  const archive = join(dir, 'image.tar');
  assert.equal((await exec('tar', ['--create', '--file', archive, '--directory', layout, '.'])).code, 0);
  const ctrd = await startContainerd(dir);
  try {
    const name = `docker.io/library/registry-gateway:${tag}`;
    // As the README says: the plain import unpacks this machine's platform; --all-platforms keeps every one's content.
    for (const flags of [[], ['--all-platforms']]) {
      const imported = await ctrd.ctr(['images', 'import', ...flags, archive]);
      assert.equal(imported.code, 0, imported.stderr);
      const ls = await ctrd.ctr(['images', 'ls']);
      const line = ls.stdout.split('\n').find((l) => l.startsWith(`${name} `));
      assert.ok(line, ls.stdout);
      assert.match(line, new RegExp(`${INDEX.replaceAll('.', '\\.').replaceAll('+', '\\+')} ${image.digest} .* linux/amd64,linux/arm64 `));
      const check = await ctrd.ctr(['images', 'check', `name==${name}`]);
      assert.match(check.stdout, /complete \(\d+\/\d+\)/, check.stdout);
      assert.equal((await ctrd.ctr(['images', 'rm', name])).code, 0);
    }
  } finally {
    await ctrd.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('skopeo pushes the index (--all) through the gateway and pulls it back with the same digest', async (t) => {
  const t0 = Date.now();
  const digestFile = join(work, 'pushed.digest');
  const push = await skopeo(['copy', '--all', '--preserve-digests', '--digestfile', digestFile, '--dest-cert-dir', trusted, '--dest-creds', 'alice:alice-pw', `oci:${layout}:${tag}`, `docker://${ref}`]);
  assert.equal(push.code, 0, push.stderr);
  assert.equal((await readFile(digestFile, 'utf8')).trim(), image.digest);
  const pulled = join(work, 'pulled');
  const pull = await skopeo(['copy', '--all', '--preserve-digests', '--src-cert-dir', trusted, '--src-creds', 'alice:alice-pw', `docker://${ref}`, `oci:${pulled}:${version}`]);
  assert.equal(pull.code, 0, pull.stderr);
  const back = await readImage(pulled, version);
  assert.equal(back.digest, image.digest);
  assert.deepEqual(back.list, image.list);
  assert.deepEqual(back.config.config, image.config.config);
  const backArm = await readImage(pulled, version, 'arm64');
  assert.equal(backArm.manifestDigest, arm.manifestDigest);
  assert.equal(backArm.config.architecture, 'arm64');
  const bytes = new Set([...image.manifest.layers, ...arm.manifest.layers].map((l) => `${l.digest} ${l.size}`));
  t.diagnostic(`push and pull of ${[...bytes].reduce((s, l) => s + Number(l.split(' ')[1]), 0)} bytes (both platforms): ${Date.now() - t0} ms`);
});

test('podman pulls it through the gateway and runs it as 65532 with a read-only root: /livez, push and pull through it, exit 0 on SIGTERM', async (t) => {
  const pulled = await pm.podman(['pull', '--cert-dir', trusted, '--creds', 'alice:alice-pw', '--signature-policy', policy, `docker://${ref}`]);
  assert.equal(pulled.code, 0, pulled.stderr);
  // From the index, podman on this amd64 machine takes the amd64 image (its config is the image's ID).
  const digest = await pm.podman(['image', 'inspect', '--format', '{{.Digest}} {{.Id}} {{.Os}}/{{.Architecture}}', ref]);
  t.diagnostic(`podman image inspect: ${digest.stdout.trim()}`);
  const [pulledDigest, id, platform] = digest.stdout.trim().split(' ');
  assert.ok([image.digest, image.manifestDigest].includes(pulledDigest!), pulledDigest);
  assert.equal(`sha256:${id}`, image.manifest.config.digest);
  assert.equal(platform, 'linux/amd64');

  const hardened = ['--read-only', '--read-only-tmpfs=false', '--cap-drop', 'all', '--security-opt', 'no-new-privileges', '--user', '65532:65532', '--network', 'host'];
  const failed = await pm.pickRuntime([...hardened, ref, '--version']);
  for (const [runtime, error] of Object.entries(failed)) t.diagnostic(`${runtime} could not start a container here: ${error}`);
  t.diagnostic(`runtime: ${pm.runtime}`);

  // The mounts as `gateway deploy container` writes them (config with the image's paths, certificates
  // without ca.key, users; owned by 65532, written as root), run with the flags of the rootful command it
  // prints, as a user copies it. Only the listen address is the test's own (a free port on loopback), and
  // the runtime is the helper's pick (the command says runc).
  const port = await freePort();
  const source = join(work, 'container-source.yaml');
  await writeFile(source, JSON.stringify({ upstream: registry.url, tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') },
    auth: { mode: 'htpasswd', htpasswd }, access }));
  const mounts = join(work, 'gw');
  const made = await gatewayCli(['deploy', 'container', '--out', mounts, '--config', source]);
  assert.equal(made.code, 0, made.stderr);
  const printed = made.stdout.split('\n').map((l) => l.trim()).find((l) => l.startsWith('podman --runtime runc run -d') && l.includes('--user 65532:65532'));
  assert.ok(printed, made.stdout);
  const words = printed.split(/\s+/);
  assert.equal(words.at(-1), `registry-gateway:${version}`);
  const flags = words.slice(words.indexOf('run') + 1, -1).filter((w, i, all) => w !== '-d' && w !== '--name' && all[i - 1] !== '--name');
  const name = `gw-image-${process.pid}`;
  const t0 = Date.now();
  const container = pm.start(['run', '--rm', '--name', name, ...flags, '--read-only-tmpfs=false', '--cap-drop', 'all',
    '--security-opt', 'no-new-privileges', ref, 'serve', '--config', '/etc/gateway/config/gateway.yaml', '--listen', `127.0.0.1:${port}`]);
  cleanup.push(async () => {
    if (container.child.exitCode === null) container.child.kill('SIGKILL');
  });
  const deadline = Date.now() + 30_000;
  while (!container.output().includes('"msg":"gateway started"')) {
    assert.equal(container.child.exitCode, null, `the container exited: ${container.output()}`);
    assert.ok(Date.now() < deadline, `the container did not start: ${container.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  t.diagnostic(`container started in ${Date.now() - t0} ms`);
  const url = `https://127.0.0.1:${port}`;
  assert.equal((await request(`${url}/livez`, { ca })).status, 200);
  assert.equal((await request(`${url}/healthz`, { ca })).status, 200);

  // PID 1 of its namespace is node itself, as 65532, on a read-only root.
  const pid = Number((await pm.podman(['inspect', '--format', '{{.State.Pid}}', name])).stdout.trim());
  assert.ok(pid > 0);
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  assert.match(status, /^Uid:\s+65532\s+65532\s+65532\s+65532$/m);
  assert.match(status, /^Gid:\s+65532\s+65532\s+65532\s+65532$/m);
  assert.match(status, /^NSpid:\s+\d+\s+1$/m);
  assert.match(status, /^CapEff:\s+0+$/m);
  // (its command line reads 'gateway': main.js sets process.title)
  assert.match(await readlink(`/proc/${pid}/exe`), /(^|\/)usr\/local\/bin\/node$/);
  assert.equal((await readFile(`/proc/${pid}/comm`, 'utf8')).trim(), 'gateway');
  const mountinfo = (await readFile(`/proc/${pid}/mountinfo`, 'utf8')).split('\n').map((l) => l.split(' '));
  const mountOpts = (point: string) => mountinfo.filter((f) => f[4] === point).at(-1)?.[5]?.split(',') ?? [];
  for (const point of ['/', '/etc/gateway/config', '/etc/gateway/certs', '/etc/gateway/users']) assert.ok(mountOpts(point).includes('ro'), `${point} is not read-only: ${mountOpts(point)}`);
  const write = await pm.podman(['exec', name, '/usr/local/bin/node', '-e', 'require("fs").writeFileSync("/app/x", "x")']);
  assert.notEqual(write.code, 0);
  assert.match(write.stderr, /EROFS/);

  // Real clients through the containerized gateway.
  const small = await buildImage(join(work, 'small'), 'v1', [256 * 1024, 128 * 1024]);
  const host = `127.0.0.1:${port}`;
  const push = await skopeo(['copy', '--dest-cert-dir', trusted, '--dest-creds', 'alice:alice-pw', `oci:${small}:v1`, `docker://${host}/alice/small:v1`]);
  assert.equal(push.code, 0, push.stderr);
  const back = join(work, 'small-back');
  const pull = await skopeo(['copy', '--src-cert-dir', trusted, '--src-creds', 'alice:alice-pw', `docker://${host}/alice/small:v1`, `oci:${back}:v1`]);
  assert.equal(pull.code, 0, pull.stderr);
  assert.equal((await readImage(back, 'v1')).digest, (await readImage(small, 'v1')).digest);
  const wrong = await skopeo(['inspect', '--cert-dir', trusted, '--creds', 'alice:nope', `docker://${host}/alice/small:v1`]);
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /401|unauthorized|authentication required/i);

  const stopAt = Date.now();
  const kill = await pm.podman(['kill', '--signal', 'SIGTERM', name]);
  assert.equal(kill.code, 0, kill.stderr);
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([container.exited, new Promise<string>((r) => (timer = setTimeout(() => r('still running 40 s after SIGTERM'), 40_000)))]);
  clearTimeout(timer);
  assert.equal(code, 0, `exit after SIGTERM: ${code}\n${container.output()}`);
  t.diagnostic(`exited 0 ${Date.now() - stopAt} ms after SIGTERM; whole file so far ${Math.round((Date.now() - started) / 1000)} s`);
  assert.equal((await pm.podman(['ps', '--all', '--quiet'])).stdout.trim(), '', 'the container is removed');
});
