import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFilesAtomically } from '../../src/util/atomicFiles.js';
import { tempDir } from '../helpers/tmp.js';

test('writes every file with its exact mode, whatever the umask', async () => {
  const dir = await tempDir();
  const old = process.umask(0o077);
  try {
    await writeFilesAtomically([
      { path: join(dir, 'a.key'), content: 'secret', mode: 0o600 },
      { path: join(dir, 'a.crt'), content: 'public', mode: 0o644 },
    ]);
  } finally {
    process.umask(old);
  }
  assert.equal((await stat(join(dir, 'a.key'))).mode & 0o777, 0o600);
  assert.equal((await stat(join(dir, 'a.crt'))).mode & 0o777, 0o644);
  assert.equal(await readFile(join(dir, 'a.crt'), 'utf8'), 'public');
  assert.deepEqual((await readdir(dir)).sort(), ['a.crt', 'a.key']);
});

test('a failure before the renames leaves the old files and no temporaries', async () => {
  const dir = await tempDir();
  await writeFile(join(dir, 'a.crt'), 'old');
  await assert.rejects(writeFilesAtomically([
    { path: join(dir, 'a.crt'), content: 'new', mode: 0o644 },
    { path: join(dir, 'missing-dir', 'b.crt'), content: 'new', mode: 0o644 },
  ]));
  assert.equal(await readFile(join(dir, 'a.crt'), 'utf8'), 'old');
  assert.deepEqual(await readdir(dir), ['a.crt']);
});

test('replaces an existing file', async () => {
  const dir = await tempDir();
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'x'), 'old');
  await writeFilesAtomically([{ path: join(dir, 'x'), content: 'new', mode: 0o644 }]);
  assert.equal(await readFile(join(dir, 'x'), 'utf8'), 'new');
});
