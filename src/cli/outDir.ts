// `--out` of the commands that write a directory (deploy kubernetes, deploy
// container): an earlier output of the same command is replaced only with
// --force, and anything else never, so a typo cannot wipe a directory.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fail } from '../errors.js';

/** What marks a directory as this command's output: a file of it that starts with the marker. */
export interface OwnOutput {
  command: string;
  file: string;
  marker: string;
}

/** --out: 'new' when absent or empty, 'replace' for an earlier output with --force; refused otherwise. */
export async function checkOut(out: string, force: boolean, name: string, own: OwnOutput): Promise<'new' | 'replace'> {
  let entries: string[];
  try {
    if (!(await stat(out)).isDirectory()) fail('FILE_EXISTS', `--out ${name} is a file; choose a directory to write`);
    entries = await readdir(out);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'new';
    throw err;
  }
  if (entries.length === 0) return 'new';
  if (!(await readFile(join(out, own.file), 'utf8').catch(() => '')).startsWith(own.marker)) {
    fail('FILE_EXISTS', `${name} exists and was not written by '${own.command}' (no ${own.file} of its own): ` +
      'refusing to replace it, even with --force; choose another --out');
  }
  if (!force) fail('FILE_EXISTS', `${name} exists (an earlier output of this command); pass --force to replace it`);
  return 'replace';
}
