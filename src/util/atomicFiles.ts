// Writes a set of files so that an interrupted run never leaves a half-written
// one: every file is written in full to a temporary name beside its target and
// flushed, and only then are they all renamed into place.
import { open, rename, rm, chmod } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

export interface FileSpec {
  path: string;
  content: string;
  /** 0o600 for private keys and secrets, 0o644 for public material. */
  mode: number;
}

export async function writeFilesAtomically(files: readonly FileSpec[]): Promise<void> {
  const temps: { tmp: string; path: string }[] = [];
  try {
    for (const file of files) {
      const tmp = join(dirname(file.path), `.${basename(file.path)}.${randomBytes(6).toString('hex')}.tmp`);
      // Created with the final mode ('wx' refuses to follow a planted file), so
      // a key is never readable by others, not even for a moment.
      const handle = await open(tmp, 'wx', file.mode);
      temps.push({ tmp, path: file.path });
      try {
        await handle.writeFile(file.content);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await chmod(tmp, file.mode); // the umask may have narrowed it
    }
  } catch (err) {
    await Promise.all(temps.map(({ tmp }) => rm(tmp, { force: true })));
    throw err;
  }
  for (const { tmp, path } of temps) await rename(tmp, path);
}
