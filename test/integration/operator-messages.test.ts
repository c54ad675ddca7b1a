// What an operator reads after the first start: messages that name the
// problem and the fix, and the commands the help and README suggest.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exec, gateway, ROOT } from '../helpers/exec.js';
import { startGateway } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp.js';

const work = await tempDir();
const certs = join(work, 'certs');
assert.equal((await gateway(['certs', 'init', '--dir', certs, '--host', '127.0.0.1'])).code, 0);

test('token issue and rotate refuse a config that is not in token mode, saying which mode it is', async () => {
  const config = join(work, 'htpasswd-mode.yaml');
  await writeFile(config, 'auth:\n  mode: htpasswd\n');
  for (const args of [['token', 'issue', '--user', 'x'], ['token', 'rotate']]) {
    const r = await gateway([...args, '--config', config]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /htpasswd-mode\.yaml sets auth\.mode htpasswd: a gateway in that mode accepts no bearer tokens; set auth\.mode: token/);
    assert.doesNotMatch(r.stderr, /auth\.token\.service: required/);
  }
  const missing = await gateway(['token', 'issue', '--user', 'x', '--config', join(work, 'none.yaml')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no config at .*none\.yaml: .*pass its config with --config/);
});

test('bad --upstream, --listen and --auth are blamed on the flag, not on config/gateway.yaml', async () => {
  for (const [flag, value, message] of [
    ['--upstream', 'ftp://x', /invalid --upstream 'ftp:\/\/x': expected an http or https URL/],
    ['--listen', 'nope', /invalid --listen 'nope': expected host:port/],
    ['--auth', 'ldap', /invalid --auth 'ldap': .*"none"\|"htpasswd"\|"token"/],
  ] as const) {
    // Run where config/gateway.yaml exists, as after a clone.
    const r = await gateway(['serve', flag, value], { cwd: ROOT });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /gateway\.yaml/);
  }
});

test('a running gateway is found by `pidof gateway`, as token rotate --help suggests', async () => {
  const gw = await startGateway(work, { auth: { mode: 'none' }, tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') } });
  after(() => gw.stop());
  const r = await exec('pidof', ['gateway']);
  assert.ok(r.stdout.trim().split(/\s+/).includes(String(gw.pid)), `pidof gateway: '${r.stdout.trim()}', gateway pid ${gw.pid}`);
  const help = await gateway(['token', 'rotate', '--help']);
  assert.match(help.stdout, /kill -HUP \$\(pidof gateway\)/);
});

test('`npx gateway` runs the CLI in a clone after npm ci, as the README says', async () => {
  const r = await exec('npx', ['--no-install', 'gateway', '--version'], { cwd: ROOT });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), JSON.parse(await (await import('node:fs/promises')).readFile(join(ROOT, 'package.json'), 'utf8')).version);
});

test('data/ (the local registry of `gateway up`) is ignored by git', async () => {
  const r = await exec('git', ['check-ignore', '-q', 'data/registry/docker/registry/v2/blobs'], { cwd: ROOT });
  assert.equal(r.code, 0, 'data/ must be in .gitignore');
});
