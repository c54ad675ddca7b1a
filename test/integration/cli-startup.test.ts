// `gateway --help`, `--version` and `COMMAND --help` load commander and the
// command definitions, nothing of the server or the certificate code (issue
// 26): that is what makes them answer in about the time of `node -e 0`. A
// guard without timing: the built CLI runs in a child process with a preload
// that records every module it resolves (an ESM resolve hook) and, at exit,
// every CommonJS module in require.cache; the test reads the packages off the
// paths. Controls show the same record does see the packages when a command
// loads them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { exec, ROOT } from '../helpers/exec.js';
import { tempDir } from '../helpers/tmp.js';

const CLI = join(ROOT, 'dist/cli/main.js');
const HEAVY = ['ioredis', 'prom-client', 'pino', 'node-forge'];

// Runs in the hooks thread: one line per module resolved, the ESM graph (CommonJS packages included, at their entry).
const HOOKS = `import { appendFileSync } from 'node:fs';
let file;
export function initialize(data) { file = data.file; }
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(file, r.url + '\\n');
  return r;
}
`;
const PRELOAD = (hooks: string, file: string) => `import { register, createRequire } from 'node:module';
import { appendFileSync } from 'node:fs';
register(${JSON.stringify(hooks)}, { data: { file: ${JSON.stringify(file)} } });
const require = createRequire(import.meta.url);
// What CommonJS loaded, inside packages too (ESM imports of CommonJS land here as well).
process.on('exit', () => appendFileSync(${JSON.stringify(file)}, Object.keys(require.cache).join('\\n') + '\\n'));
`;

/** The npm packages a run of the built CLI loaded, with its result. */
async function packagesLoaded(args: string[]): Promise<{ code: number; stdout: string; stderr: string; packages: Set<string> }> {
  const dir = await tempDir('gw-startup-');
  const record = join(dir, 'modules.txt');
  await writeFile(record, '');
  await writeFile(join(dir, 'hooks.mjs'), HOOKS);
  await writeFile(join(dir, 'preload.mjs'), PRELOAD(pathToFileURL(join(dir, 'hooks.mjs')).href, record));
  const r = await exec(process.execPath, ['--import', pathToFileURL(join(dir, 'preload.mjs')).href, CLI, ...args], { cwd: dir });
  const packages = new Set<string>();
  for (const line of (await readFile(record, 'utf8')).split('\n')) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*node_modules\/)/.exec(decodeURIComponent(line));
    if (m) packages.add(m[1]!);
  }
  return { ...r, packages };
}

// Every command and subcommand, from the help itself: a command added later is covered without editing this list.
async function commandPaths(): Promise<string[][]> {
  const paths: string[][] = [];
  const walk = async (path: string[]) => {
    const help = await exec(process.execPath, [CLI, ...path, '--help']);
    const section = help.stdout.split('\nCommands:\n')[1]?.split('\n\n')[0] ?? '';
    for (const name of section.split('\n').map((l) => /^ {2}([a-z][a-z-]*)/.exec(l)?.[1]).filter((n): n is string => Boolean(n))) {
      if (name === 'help') continue;
      paths.push([...path, name]);
      await walk([...path, name]);
    }
  };
  await walk([]);
  return paths;
}

test('--help, --version and every COMMAND --help load commander only: no ioredis, prom-client, pino or node-forge', async () => {
  const paths = await commandPaths();
  // The tree as it is today, so that the walk itself cannot silently find nothing.
  for (const expected of ['certs', 'certs init', 'certs rollover start', 'serve', 'up', 'users add', 'token issue', 'bundle',
    'deploy kubernetes', 'completion']) {
    assert.ok(paths.some((p) => p.join(' ') === expected), `the help lists no '${expected}': ${paths.map((p) => p.join(' ')).join(', ')}`);
  }
  for (const args of [['--help'], ['--version'], ['help'], ...paths.map((p) => [...p, '--help'])]) {
    const r = await packagesLoaded(args);
    assert.equal(r.code, 0, `gateway ${args.join(' ')}: ${r.stderr}`);
    assert.ok(r.stdout.length > 0, `gateway ${args.join(' ')} printed nothing`);
    for (const heavy of HEAVY) assert.ok(!r.packages.has(heavy), `gateway ${args.join(' ')} loaded ${heavy}`);
    assert.deepEqual([...r.packages], ['commander'], `gateway ${args.join(' ')} loaded ${[...r.packages].join(', ')}`);
  }
});

test('the record sees the packages a command does load (the controls)', async () => {
  // serve loads the server before it reads its files: pino, prom-client (ioredis only with redis:); then fails on
  // the missing certificate.
  const serve = await packagesLoaded(['serve', '--certs', 'no-such-dir', '--listen', '127.0.0.1:1']);
  assert.equal(serve.code, 2, serve.stderr);
  assert.match(serve.stderr, /cannot read the TLS certificate no-such-dir\/server\.crt/);
  for (const heavy of ['prom-client', 'pino']) assert.ok(serve.packages.has(heavy), `serve: ${[...serve.packages].join(', ')}`);
  assert.ok(!serve.packages.has('ioredis'), `serve without redis: loaded ioredis (${[...serve.packages].join(', ')})`);
  // certs show reads certificates with node-forge's helpers; users list loads bcrypt and nothing of the server.
  const dir = await tempDir('gw-startup-certs-');
  assert.equal((await exec(process.execPath, [CLI, 'certs', 'init', '--dir', dir])).code, 0);
  const show = await packagesLoaded(['certs', 'show', '--dir', dir]);
  assert.equal(show.code, 0, show.stderr);
  assert.ok(show.packages.has('node-forge'), `certs show: ${[...show.packages].join(', ')}`);
  const file = join(dir, 'htpasswd');
  assert.equal((await exec(process.execPath, [CLI, 'users', 'add', 'alice', '--password-stdin', '--cost', '4', '--file', file],
    { input: 'a long enough password' })).code, 0);
  const list = await packagesLoaded(['users', 'list', '--file', file]);
  assert.equal(list.code, 0, list.stderr);
  assert.equal(list.stdout, 'alice\n');
  assert.ok(list.packages.has('bcryptjs'), `users list: ${[...list.packages].join(', ')}`);
  for (const heavy of ['ioredis', 'prom-client', 'pino', 'zod']) assert.ok(!list.packages.has(heavy), `users list loaded ${heavy}`);
});
