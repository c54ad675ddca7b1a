// A password kept in a file (redis.passwordFile, upstream.passwordFile): apart
// from redis.ts, so that reading one does not load ioredis.
import { readFile } from 'node:fs/promises';
import { fail } from '../errors.js';

export async function readRedisPassword(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      return fail('FILE_MISSING', `redis.passwordFile ${path} not found: write the Redis password into it (one line), or remove redis.passwordFile if Redis needs none`);
    }
    return fail('FILE_INVALID', `cannot read redis.passwordFile ${path}: ${code ?? (err as Error).message}; the gateway's user must be able to read it`);
  }
  const password = text.replace(/\r?\n$/, '');
  if (password === '') fail('FILE_INVALID', `redis.passwordFile ${path} is empty: write the Redis password into it, or remove redis.passwordFile`);
  return password;
}
