// The container image (scripts/image.sh, what `npm run image` runs) built
// from a snapshot of the tree: other work may change src/ while a test file
// runs, so every build of one file reads one copy (node_modules and the
// Node 24 download in .cache/ are shared, read-only).
import assert from 'node:assert/strict';
import { cp, mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { exec, ROOT } from './exec.js';

export interface ImageSnapshot {
  tree: string;
  /** The last commit's time (SOURCE_DATE_EPOCH) and hash, as the image records them. */
  epoch: number;
  revision: string;
  env: NodeJS.ProcessEnv;
  /** Builds into OUT (the OCI layout is OUT/oci); fails the test with image.sh's stderr. */
  build: (out: string) => Promise<{ ms: number; stdout: string }>;
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
    build: async (out) => {
      const t0 = Date.now();
      const r = await exec('bash', [join(tree, 'scripts/image.sh'), '--out', out], { env, timeoutMs: 600_000 });
      assert.equal(r.code, 0, `image.sh failed:\n${r.stderr}`);
      return { ms: Date.now() - t0, stdout: r.stdout };
    },
  };
}
