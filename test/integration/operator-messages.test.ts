// What an operator reads after the first start: messages that name the
// problem and the fix, and the commands the help and README suggest.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI, exec, gateway, ROOT } from '../helpers/exec.js';
import { startGateway } from '../helpers/gateway.js';
import { freePort, startRegistry } from '../helpers/registry.js';
import { request } from '../helpers/https.js';
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

test('a running gateway names itself `gateway` (pidof, and the check gateway reload makes); token rotate --help points at gateway reload', async () => {
  const gw = await startGateway(work, { auth: { mode: 'none' }, tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') } });
  after(() => gw.stop());
  const r = await exec('pidof', ['gateway']);
  assert.ok(r.stdout.trim().split(/\s+/).includes(String(gw.pid)), `pidof gateway: '${r.stdout.trim()}', gateway pid ${gw.pid}`);
  const help = await gateway(['token', 'rotate', '--help']);
  assert.match(help.stdout, /gateway reload \(or kill -HUP PID\) at once/);
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

test('serve --certs /missing says only what is wrong (no renewal failure first)', async () => {
  const r = await gateway(['serve', '--certs', join(work, 'missing'), '--upstream', 'http://127.0.0.1:1'], { cwd: work });
  assert.equal(r.code, 2, r.stderr);
  const lines = `${r.stdout}${r.stderr}`.trim().split('\n');
  assert.deepEqual(lines.length, 1, lines.join('\n'));
  assert.match(lines[0]!, /^gateway: cannot read the TLS certificate .*missing\/server\.crt \(ENOENT\); create them with 'gateway certs init'/);
});

test('--port is accepted (the listen host kept); help lists it', async () => {
  const gw = await startGateway(work, { auth: { mode: 'none' }, tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') } }, {
    args: ['--port', String(await freePort())],
  });
  after(() => gw.stop());
  const started = await gw.waitFor((e) => e.msg === 'gateway started');
  const port = Number(String(started.listen).split(':').pop());
  assert.notEqual(port, gw.port, 'the flag wins over the file');
  assert.match(String(started.listen), /^127\.0\.0\.1:\d+$/, 'the host of the file kept');
  const bad = await gateway(['serve', '--port', '99999']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--port must be a whole number from 1 to 65535/);
  assert.match((await gateway(['up', '--help'])).stdout, /--port <n>/);
});

test('files uid 65532 may not read: the message names the uid, the permission and the owner, not certs init', async () => {
  // Made 0700 by tempDir: opened so that the directory below is the first one uid 65532 may not enter.
  await chmod(work, 0o755);
  const locked = join(work, 'locked');
  await mkdir(locked, { mode: 0o700 });
  for (const f of ['server.crt', 'server.key']) await copyFile(join(certs, f), join(locked, f));
  await chmod(locked, 0o700);
  const asNobody = (args: string[]) => exec('setpriv', ['--reuid', '65532', '--regid', '65532', '--clear-groups', process.execPath, CLI, ...args], { cwd: '/' });
  const dir = await asNobody(['serve', '--certs', locked, '--upstream', 'http://127.0.0.1:1']);
  assert.equal(dir.code, 2, dir.stderr);
  assert.match(dir.stderr, new RegExp(`cannot read the TLS certificate ${locked}/server\\.crt: permission denied: uid 65532 \\(gid 65532\\) ` +
    `may not enter the directory ${locked} \\(owner uid 0, gid 0, mode 0700\\)`));
  assert.doesNotMatch(dir.stderr, /certs init/);
  await chmod(locked, 0o755);
  await chmod(join(locked, 'server.crt'), 0o600);
  const file = await asNobody(['serve', '--certs', locked, '--upstream', 'http://127.0.0.1:1']);
  assert.match(file.stderr, /server\.crt: permission denied: uid 65532 \(gid 65532\) may not read it \(owner uid 0, gid 0, mode 0600\); make it readable by uid 65532/);
});

test('gateway.yaml is re-read on a change and on SIGHUP: the access rules apply at once; the rest is named as needing a restart', async () => {
  const upstream = await startRegistry(work, { storage: join(work, 'reload-storage') });
  after(() => upstream.stop());
  const gw = await startGateway(work, {
    upstream: upstream.url, auth: { mode: 'none' }, tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') },
    access: [{ account: '', name: 'open/**', actions: ['pull'] }],
  });
  after(() => gw.stop());
  const ca = await readFile(join(certs, 'ca.crt'), 'utf8');
  const status = async (repo: string) => (await request(`${gw.url}/v2/${repo}/tags/list`, { ca })).status;
  assert.equal(await status('closed/app'), 403);
  const path = join(work, `gateway-${gw.port}.yaml`);
  const config = JSON.parse(await readFile(path, 'utf8'));
  // Edited as a user edits it: the rules widened, and a setting only a restart takes.
  const from = gw.entries().length;
  await writeFile(path, JSON.stringify({ ...config, access: [{ account: '', name: '**', actions: ['pull'] }], timeouts: { idle: 60 } }));
  const changed = await gw.waitFor((e) => String(e.msg).startsWith('config changed'), from, 20_000);
  assert.deepEqual(changed.applied, ['access']);
  assert.deepEqual(changed.needsRestart, ['timeouts.idle']);
  assert.equal(changed.msg, 'config changed: applied what can change live; restart the gateway for timeouts.idle');
  assert.notEqual(await status('closed/app'), 403, 'the new rules decide at once');
  // A broken edit keeps the running config; SIGHUP re-reads too.
  const broken = gw.entries().length;
  await writeFile(path, 'listen: [\n');
  const failed = await gw.waitFor((e) => e.msg === 'config reload failed; the gateway keeps running with the config it has', broken, 20_000);
  assert.match(String(failed.error), /at line \d+, column \d+/);
  assert.notEqual(await status('closed/app'), 403);
  await writeFile(path, JSON.stringify({ ...config, listen: '127.0.0.1:1' }));
  const hup = gw.entries().length;
  gw.signal('SIGHUP');
  const again = await gw.waitFor((e) => String(e.msg).startsWith('config changed'), hup, 20_000);
  assert.deepEqual(again.needsRestart, ['listen'], 'timeouts back as started; listen differs');
  assert.deepEqual(again.applied, ['access']);
  assert.equal(await status('closed/app'), 403, 'the old rules are back');
});
