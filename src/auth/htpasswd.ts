// The htpasswd file: bcrypt entries as `htpasswd -B` writes them. Read at
// start (an unreadable file stops the start), re-read when it changes.
import { readFile } from 'node:fs/promises';
import { watchFile, unwatchFile } from 'node:fs';
import { fail } from '../errors.js';
import { permissionProblem } from '../util/permission.js';

export interface Htpasswd {
  users: Map<string, string>;
  /** One per skipped line, naming it. */
  warnings: string[];
}

const BCRYPT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;
export const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;

export function parseHtpasswd(text: string, path: string): Htpasswd {
  const users = new Map<string, string>();
  const warnings: string[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    const user = colon > 0 ? line.slice(0, colon) : '';
    const hash = colon > 0 ? line.slice(colon + 1).trim() : '';
    if (!user) warnings.push(`${path}:${i + 1}: not a user:hash line; skipped`);
    else if (!BCRYPT.test(hash)) {
      warnings.push(`${path}:${i + 1}: user '${user}' has a non-bcrypt hash; skipped ` +
        `(recreate it with 'gateway users passwd ${user}' or 'htpasswd -B')`);
    }
    else if (users.has(user)) warnings.push(`${path}:${i + 1}: user '${user}' appears again; the first entry counts`);
    else users.set(user, hash);
  });
  return { users, warnings };
}

export async function readHtpasswd(path: string): Promise<Htpasswd> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      return fail('FILE_MISSING', `htpasswd file ${path} not found; create a user with 'gateway users add NAME --file ${path}'`);
    }
    return fail('FILE_INVALID', `cannot read htpasswd file ${path}: ${permissionProblem(path, err) ?? code ?? (err as Error).message}`);
  }
  return parseHtpasswd(text, path);
}

/**
 * Calls onChange with the new contents whenever the file changes. Polls the
 * file's stat: an editor or `users add` replaces it by rename, which an
 * inotify watch on the old file would miss.
 */
export function watchHtpasswd(
  path: string, onChange: (h: Htpasswd) => void, onError: (message: string) => void, intervalMs = 1000,
): () => void {
  const listener = (cur: { mtimeMs: number; ino: number; size: number }, prev: { mtimeMs: number; ino: number; size: number }) => {
    if (cur.mtimeMs === prev.mtimeMs && cur.ino === prev.ino && cur.size === prev.size) return;
    readHtpasswd(path).then(onChange, (err: Error) => onError(`${err.message}; keeping the previous users`));
  };
  watchFile(path, { interval: intervalMs, persistent: false }, listener);
  return () => unwatchFile(path, listener);
}
