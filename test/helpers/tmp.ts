import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { onExit } from './cleanup.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

/** A fresh directory, removed when the test file finishes. */
export async function tempDir(prefix = 'gw-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const forget = onExit(() => rmSync(dir, { recursive: true, force: true }));
  after(async () => {
    await rm(dir, { recursive: true, force: true });
    forget();
  });
  return dir;
}
