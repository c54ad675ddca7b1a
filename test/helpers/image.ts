// The container image (scripts/image.sh, what `npm run image` runs) built
// from a snapshot of the tree: other work may change src/ while a test file
// runs, so every build of one file reads one copy (node_modules and the
// Node 24 download in .cache/ are shared, read-only).
import assert from 'node:assert/strict';
import { cp, mkdir, readFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { exec, ROOT } from './exec.js';

export interface ImageSnapshot {
  tree: string;
  /** The last commit's time (SOURCE_DATE_EPOCH) and hash, as the image records them. */
  epoch: number;
  revision: string;
  env: NodeJS.ProcessEnv;
  /** Builds into OUT (the OCI layout is OUT/oci); fails the test with image.sh's stderr. ARGS: more of image.sh's (--platform). */
  build: (out: string, args?: string[]) => Promise<{ ms: number; stdout: string }>;
}

export async function imageSnapshot(work: string): Promise<ImageSnapshot> {
  const tree = join(work, 'tree');
  for (const p of ['src', 'scripts', 'package.json', 'package-lock.json', 'tsconfig.json', 'vite.config.ts']) {
    await cp(join(ROOT, p), join(tree, p), { recursive: true });
  }
  await symlink(join(ROOT, 'node_modules'), join(tree, 'node_modules'));
  await mkdir(join(ROOT, '.cache'), { recursive: true });
  await symlink(join(ROOT, '.cache'), join(tree, '.cache'));
  const git = async (args: string[]) => (await exec('git', args, { cwd: ROOT })).stdout.trim();
  const epoch = Number((await git(['log', '-1', '--format=%ct'])) || 0);
  const revision = (await git(['rev-parse', 'HEAD'])) || 'unknown';
  const env = { ...process.env, SOURCE_DATE_EPOCH: String(epoch), IMAGE_REVISION: revision };
  return {
    tree, epoch, revision, env,
    build: async (out, args = []) => {
      const t0 = Date.now();
      const r = await exec('bash', [join(tree, 'scripts/image.sh'), '--out', out, ...args], { env, timeoutMs: 600_000 });
      assert.equal(r.code, 0, `image.sh failed:\n${r.stderr}`);
      return { ms: Date.now() - t0, stdout: r.stdout };
    },
  };
}

interface Descriptor { mediaType: string; digest: string; size: number; platform?: { architecture: string; os: string } }
const blobPath = (layout: string, digest: string) => join(layout, 'blobs', ...digest.split(':'));

/** The manifest descriptor of ARCH under TAG: the tag names an image index (scripts/image.sh), or a single manifest. */
export async function platformManifest(layout: string, tag: string, arch: string): Promise<Descriptor> {
  const top = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: (Descriptor & { annotations?: Record<string, string> })[] };
  const desc = top.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  assert.ok(desc, `no ${tag} in ${layout}/index.json`);
  if (desc.mediaType !== 'application/vnd.oci.image.index.v1+json') return desc;
  const index = JSON.parse(await readFile(blobPath(layout, desc.digest), 'utf8')) as { manifests: Descriptor[] };
  const found = index.manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === arch);
  assert.ok(found, `no linux/${arch} manifest in the index of ${tag}: ${JSON.stringify(index.manifests)}`);
  return found;
}

/**
 * Unpacks ARCH's image of TAG into DEST/rootfs, its layers in order with tar (umoci unpack takes a
 * manifest, and a tag that names an index is "ambiguous" to it). The image's layers hold no whiteouts.
 */
export async function unpackImage(layout: string, tag: string, arch: string, dest: string): Promise<string> {
  const manifest = JSON.parse(await readFile(blobPath(layout, (await platformManifest(layout, tag, arch)).digest), 'utf8')) as { layers: Descriptor[] };
  const rootfs = join(dest, 'rootfs');
  await mkdir(rootfs, { recursive: true });
  for (const layer of manifest.layers) {
    const r = await exec('tar', ['--extract', '--gzip', '--same-owner', '--same-permissions', '--file', blobPath(layout, layer.digest), '--directory', rootfs]);
    assert.equal(r.code, 0, `tar of ${layer.digest}: ${r.stderr}`);
  }
  return rootfs;
}
