// `gateway users` and Apache's reference htpasswd tool read each other's files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exec, gateway } from '../helpers/exec.js';
import { tempDir } from '../helpers/tmp.js';
import { parseHtpasswd } from '../../src/auth/htpasswd.js';
import { createBcryptPool } from '../../src/auth/bcryptPool.js';

test('users add/passwd/remove/list edit the file atomically with mode 0600; htpasswd -v accepts the hashes', async () => {
  const dir = await tempDir();
  const file = join(dir, 'sub', 'htpasswd');
  const add = await gateway(['users', 'add', 'alice', '--password-stdin', '--file', file], { input: 'pw-1-long\n' });
  assert.equal(add.code, 0, add.stderr);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.match(await readFile(file, 'utf8'), /^alice:\$2y\$10\$/);
  assert.equal((await exec('htpasswd', ['-vb', file, 'alice', 'pw-1-long'])).code, 0, 'Apache htpasswd verifies our bcrypt');
  assert.notEqual((await exec('htpasswd', ['-vb', file, 'alice', 'pw-1-long\n'])).code, 0, 'the trailing newline of stdin is not part of the password');
  assert.equal((await gateway(['users', 'add', 'bob', '--password', 'pw-b-long', '--file', file, '--cost', '5'])).code, 0);
  const dup = await gateway(['users', 'add', 'alice', '--password-stdin', '--file', file], { input: 'x-long-enough' });
  assert.equal(dup.code, 2);
  assert.match(dup.stderr, /already exists.*users passwd alice/);
  assert.equal((await gateway(['users', 'passwd', 'alice', '--password-stdin', '--file', file], { input: 'pw-2-long' })).code, 0);
  assert.equal((await exec('htpasswd', ['-vb', file, 'alice', 'pw-2-long'])).code, 0);
  assert.equal((await gateway(['users', 'list', '--file', file])).stdout, 'alice\nbob\n');
  assert.equal((await gateway(['users', 'remove', 'bob', '--file', file])).code, 0);
  assert.equal((await gateway(['users', 'list', '--file', file])).stdout, 'alice\n');
  const missing = await gateway(['users', 'remove', 'bob', '--file', file]);
  assert.equal(missing.code, 2);
});

test('bad input: exit 2, one line, file untouched', async () => {
  const dir = await tempDir();
  const file = join(dir, 'htpasswd');
  assert.equal((await gateway(['users', 'add', 'alice', '--password-stdin', '--file', file], { input: 'alice-pw' })).code, 0);
  const before = await readFile(file, 'utf8');
  for (const [args, input, message] of [
    [['users', 'add', 'bad:name', '--password-stdin'], 'x', /invalid user name 'bad:name'/],
    [['users', 'add', 'carol', '--password-stdin'], '', /the password is empty/],
    [['users', 'add', 'carol', '--password-stdin'], 'x'.repeat(80), /longer than 72 bytes/],
    [['users', 'add', 'carol'], undefined, /no password given: pipe it in with --password-stdin/],
    [['users', 'add', 'carol', '--cost', '3', '--password-stdin'], 'x', /--cost must be a whole number from 4 to 17/],
    [['users', 'passwd', 'nobody', '--password-stdin'], 'long-enough', /no user 'nobody'/],
    // At least 8 characters unless --min-length says otherwise, and the message says how to.
    [['users', 'add', 'carol', '--password-stdin'], 'x', /the password has 1 character; use at least 8 \(or set the minimum with --min-length N\); nothing was changed/],
    [['users', 'passwd', 'alice', '--password-stdin'], 'seven77', /the password has 7 characters; use at least 8/],
    [['users', 'add', 'carol', '--min-length', '12', '--password-stdin'], 'eleven-char', /has 11 characters; use at least 12/],
    [['users', 'add', 'carol', '--min-length', '0', '--password-stdin'], 'x', /--min-length must be a whole number from 1 to 72/],
  ] as const) {
    const r = await gateway([...args, '--file', file], input === undefined ? {} : { input });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
  assert.equal(await readFile(file, 'utf8'), before);
  // Exactly the minimum passes; a lower minimum, set on purpose, lets a short one through.
  assert.equal((await gateway(['users', 'add', 'dave', '--password-stdin', '--file', file], { input: '8chars!!' })).code, 0);
  assert.equal((await gateway(['users', 'add', 'erin', '--min-length', '1', '--password-stdin', '--file', file], { input: 'x' })).code, 0);
});

test('htpasswd -B entries are accepted; other hash types are skipped with a warning naming the line', async () => {
  const dir = await tempDir();
  const file = join(dir, 'htpasswd');
  assert.equal((await exec('htpasswd', ['-cbB', file, 'apache', 'a-pw'])).code, 0);
  assert.equal((await exec('htpasswd', ['-bm', file, 'md5user', 'm-pw'])).code, 0);
  await writeFile(file, `${await readFile(file, 'utf8')}garbage line\n`);
  const parsed = parseHtpasswd(await readFile(file, 'utf8'), file);
  assert.deepEqual([...parsed.users.keys()], ['apache']);
  assert.match(parsed.warnings[0]!, /htpasswd:2: user 'md5user' has a non-bcrypt hash; skipped/);
  assert.match(parsed.warnings[1]!, /htpasswd:3: not a user:hash line/);
  const pool = createBcryptPool({ size: 1 });
  try {
    assert.equal(await pool.compare('a-pw', parsed.users.get('apache')!), true);
  } finally {
    await pool.close();
  }
  const list = await gateway(['users', 'list', '--file', file]);
  assert.equal(list.stdout, 'apache\n');
  assert.match(list.stderr, /warning: .*md5user/);
});
