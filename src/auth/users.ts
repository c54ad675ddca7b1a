// `gateway users`: edits the htpasswd file in place, atomically (temporary
// file and rename, mode 0600), keeping every other line as it was.
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import bcrypt from 'bcryptjs';
import { fail } from '../errors.js';
import { writeFilesAtomically } from '../util/atomicFiles.js';
import { parseHtpasswd, USER_NAME } from './htpasswd.js';

async function readLines(file: string): Promise<string[]> {
  try {
    const text = await readFile(file, 'utf8');
    return text.split(/\r?\n/).filter((l, i, all) => !(l === '' && i === all.length - 1));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    return fail('FILE_INVALID', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code}`);
  }
}

const userOf = (line: string) => (line.includes(':') ? line.slice(0, line.indexOf(':')) : undefined);

function checkName(name: string): void {
  if (!USER_NAME.test(name)) {
    fail('INVALID_ARGUMENT', `invalid user name '${name}': use letters, digits, '.', '_', '@' and '-', starting with a letter or digit`);
  }
}

export function checkPassword(password: string, minLength = 1): void {
  if (password.length === 0) fail('INVALID_ARGUMENT', 'the password is empty');
  // Counted in characters, as a person counts what they typed.
  const length = [...password].length;
  if (length < minLength) {
    fail('INVALID_ARGUMENT', `the password has ${length} character${length === 1 ? '' : 's'}; use at least ${minLength} ` +
      `(or set the minimum with --min-length N); nothing was changed`);
  }
  // bcrypt ignores everything past 72 bytes; refusing beats silently truncating.
  if (Buffer.byteLength(password) > 72) {
    fail('INVALID_ARGUMENT', 'the password is longer than 72 bytes, which bcrypt cannot use; choose a shorter one');
  }
}

async function hash(password: string, cost: number): Promise<string> {
  // $2y$ as `htpasswd -B` writes it; bcrypt's 2b and 2y are the same algorithm.
  return (await bcrypt.hash(password, cost)).replace(/^\$2b\$/, '$2y$');
}

export async function setUser(
  file: string, name: string, password: string, cost: number, mode: 'add' | 'passwd', minLength = 1,
): Promise<void> {
  checkName(name);
  checkPassword(password, minLength);
  const lines = await readLines(file);
  const index = lines.findIndex((l) => userOf(l) === name);
  if (mode === 'add' && index !== -1) {
    fail('FILE_EXISTS', `user '${name}' already exists in ${file}; change the password with 'gateway users passwd ${name}'`);
  }
  if (mode === 'passwd' && index === -1) fail('INVALID_ARGUMENT', `no user '${name}' in ${file}; add it with 'gateway users add ${name}'`);
  const line = `${name}:${await hash(password, cost)}`;
  if (index === -1) lines.push(line);
  else lines[index] = line;
  await mkdir(dirname(file), { recursive: true });
  await writeFilesAtomically([{ path: file, content: `${lines.join('\n')}\n`, mode: 0o600 }]);
}

export async function removeUser(file: string, name: string): Promise<void> {
  const lines = await readLines(file);
  const kept = lines.filter((l) => userOf(l) !== name);
  if (kept.length === lines.length) fail('INVALID_ARGUMENT', `no user '${name}' in ${file}`);
  await writeFilesAtomically([{ path: file, content: kept.length ? `${kept.join('\n')}\n` : '', mode: 0o600 }]);
}

export async function listUsers(file: string): Promise<{ users: string[]; warnings: string[] }> {
  const parsed = parseHtpasswd((await readLines(file)).join('\n'), file);
  return { users: [...parsed.users.keys()], warnings: parsed.warnings };
}
