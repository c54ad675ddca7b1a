// Test images in an OCI layout, built with umoci (no daemon needed).
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exec } from './exec.js';

async function must(file: string, args: string[]): Promise<void> {
  const r = await exec(file, args);
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} failed: ${r.stderr}`);
}

/**
 * An image `layout:tag` with one layer per entry of layerSizes, each holding a
 * file of that many random (incompressible) bytes. No sizes: no layers.
 */
export async function buildImage(workDir: string, tag: string, layerSizes: number[] = []): Promise<string> {
  const layout = join(workDir, 'layout');
  await must('umoci', ['init', '--layout', layout]);
  await must('umoci', ['new', '--image', `${layout}:${tag}`]);
  for (const [i, size] of layerSizes.entries()) {
    const bundle = join(workDir, `bundle-${i}`);
    await must('umoci', ['unpack', '--rootless', '--image', `${layout}:${tag}`, bundle]);
    await mkdir(join(bundle, 'rootfs', 'data'), { recursive: true });
    await writeFile(join(bundle, 'rootfs', 'data', `layer-${i}.bin`), randomBytes(size));
    await must('umoci', ['repack', '--image', `${layout}:${tag}`, bundle]);
  }
  return layout;
}

/** A skopeo signature policy that accepts anything: tests must not depend on /etc/containers. */
export async function skopeoPolicy(workDir: string): Promise<string> {
  const path = join(workDir, 'policy.json');
  await writeFile(path, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  return path;
}
