// A password kept in a file (redis.passwordFile, upstream.passwordFile): apart
// from redis.ts, so that reading one does not load ioredis.
import { readFile } from 'node:fs/promises';
import { fail } from '../errors.js';

/** The file's one line; `field` and `whose` name it in the errors (redis.passwordFile, Redis). */
export async function readPasswordFile(path: string, field: string, whose: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      return fail('FILE_MISSING',
        `${field} ${path} not found: write the ${whose} password into it (one line), or remove ${field} if ${whose} needs none`);
    }
    const why = code ?? (err as Error).message;
    return fail('FILE_INVALID', `cannot read ${field} ${path}: ${why}; the gateway's user must be able to read it`);
  }
  const password = text.replace(/\r?\n$/, '');
  if (password === '') fail('FILE_INVALID', `${field} ${path} is empty: write the ${whose} password into it, or remove ${field}`);
  return password;
}

export const readRedisPassword = (path: string): Promise<string> => readPasswordFile(path, 'redis.passwordFile', 'Redis');
