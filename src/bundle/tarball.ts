// A deterministic .tar.gz of a bundle: sorted entries, fixed times and owners,
// gzip without a timestamp, so the same bundle always has the same bytes and
// the same SHA-256.
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import type { BundleFile } from './render.js';

const EPOCH = new Date(0);
export const TAR_ROOT = 'registry-trust';

export async function tarball(files: readonly BundleFile[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    p.on('end', () => resolve());
    p.on('error', reject);
  });
  const dirs = new Set<string>();
  for (const f of [...files].sort((a, b) => a.path.localeCompare(b.path))) {
    const parts = `${TAR_ROOT}/${f.path}`.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (dirs.has(dir)) continue;
      dirs.add(dir);
      p.entry({ name: `${dir}/`, type: 'directory', mode: 0o755, mtime: EPOCH, uid: 0, gid: 0, uname: '', gname: '' });
    }
    p.entry({ name: `${TAR_ROOT}/${f.path}`, mode: f.mode, mtime: EPOCH, uid: 0, gid: 0, uname: '', gname: '' }, f.content);
  }
  p.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks), { level: 9 });
}
