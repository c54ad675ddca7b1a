// Writing a bundle directory whole: into a temporary sibling first, then
// swapped in by rename, so an interrupted run never leaves a mixed tree.
import { mkdir, rename, rm, writeFile, chmod } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import type { BundleFile } from './render.js';
import { exists } from '../certs/store.js';

export async function writeBundle(out: string, files: readonly BundleFile[]): Promise<void> {
  const suffix = randomBytes(4).toString('hex');
  const staging = `${out}.tmp-${suffix}`;
  const old = `${out}.old-${suffix}`;
  await mkdir(dirname(out), { recursive: true });
  try {
    for (const f of files) {
      const path = join(staging, f.path);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, f.content, { mode: f.mode });
      await chmod(path, f.mode);
    }
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
  const replacing = await exists(out);
  if (replacing) await rename(out, old);
  await rename(staging, out);
  if (replacing) await rm(old, { recursive: true, force: true });
}
