// `gateway deploy container --out DIR`: the directory a container of the image
// mounts. Proven without the image: the gateway, as uid 65532 with DIR's
// folders bind-mounted at /etc/gateway/... in a private mount namespace (as
// the container sees them), starts from DIR's gateway.yaml and serves through
// to the upstream. (test/integration/image.test.ts runs the image itself.)
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CLI, gateway } from '../helpers/exec.js';
import { onExit } from '../helpers/cleanup.js';
import { request } from '../helpers/https.js';
import { freePort, startRegistry } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';

const work = await tempDir();
const registry = await startRegistry(work, { storage: join(work, 'storage') });
after(() => registry.stop());
const certs = join(work, 'certs');
const htpasswd = join(work, 'htpasswd');
assert.equal((await gateway(['certs', 'init', '--dir', certs, '--host', 'localhost', '--host', '127.0.0.1'])).code, 0);
assert.equal((await gateway(['users', 'add', 'alice', '--password-stdin', '--file', htpasswd, '--cost', '4'], { input: 'alice-pw' })).code, 0);
const port = await freePort();
const config = join(work, 'gateway.yaml');
await (await import('node:fs/promises')).writeFile(config, JSON.stringify({
  upstream: registry.url, tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') }, auth: { htpasswd },
}));
const out = join(work, 'gw');

test('deploy container writes the image\'s mounts, owned by uid 65532 (written as root), keys 0600, never ca.key; the run commands carry the flags', async () => {
  const r = await gateway(['deploy', 'container', '--out', out, '--config', config]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual((await readdir(out)).sort(), ['README.txt', 'certs', 'config', 'users']);
  assert.deepEqual((await readdir(join(out, 'certs'))).sort(), ['ca.crt', 'server.crt', 'server.key']);
  for (const [path, mode] of [['.', 0o700], ['certs', 0o700], ['certs/server.key', 0o600], ['users/htpasswd', 0o600], ['certs/server.crt', 0o644], ['config/gateway.yaml', 0o644]] as const) {
    const s = await stat(join(out, path));
    assert.equal(s.mode & 0o777, mode, path);
    assert.deepEqual([s.uid, s.gid], [65532, 65532], path);
  }
  const yaml = parseYaml(await readFile(join(out, 'config', 'gateway.yaml'), 'utf8'));
  assert.deepEqual(yaml, {
    listen: '[::]:5443', upstream: registry.url,
    tls: { cert: '/etc/gateway/certs/server.crt', key: '/etc/gateway/certs/server.key' }, auth: { htpasswd: '/etc/gateway/users/htpasswd' },
  });
  assert.match(r.stdout, /podman --runtime runc run -d --name registry-gateway --read-only --ulimit nofile=\d+:\d+ --ulimit nproc=\d+:\d+ --network host --user 65532:65532 /);
  // Rootless podman gives the container the user's own limits: no --ulimit (podman-rootless.test.ts runs it).
  assert.match(r.stdout, /\n {2}podman --runtime runc run -d --name registry-gateway --read-only --network host --userns keep-id:uid=65532,gid=65532 -v /);
  assert.match(r.stdout, /the upstream http:\/\/127\.0\.0\.1:\d+ is on this host's loopback/);
  assert.match(await readFile(join(out, 'README.txt'), 'utf8'), /--runtime runc {8}\(a podman option, before run\) Debian 12's crun/);
  const again = await gateway(['deploy', 'container', '--out', out, '--config', config]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /pass --force to replace it/);
  assert.equal((await gateway(['deploy', 'container', '--out', out, '--config', config, '--force'])).code, 0);
});

test('as uid 65532 with the folders at /etc/gateway (what the container sees), the gateway starts from it and serves', async () => {
  // Only the listen port differs from the container (several tests share this host's network).
  const script = ['config', 'certs', 'users'].map((f) => `mount --bind "${join(out, f)}" /etc/gateway/${f}`).join(' && ') +
    ` && exec setpriv --reuid 65532 --regid 65532 --clear-groups "${process.execPath}" "${CLI}" serve --config /etc/gateway/config/gateway.yaml --listen 127.0.0.1:${port}`;
  // /etc as an overlay whose writes (the mount points) land in the test directory: the machine's /etc is never touched.
  const [upper, scratch] = [join(work, 'etc-upper'), join(work, 'etc-work')];
  await mkdir(upper);
  await mkdir(scratch);
  const child = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-ec',
    `mount -t overlay overlay -o lowerdir=/etc,upperdir=${upper},workdir=${scratch} /etc && ` +
    `mkdir -p /etc/gateway/config /etc/gateway/certs /etc/gateway/users && ${script}`],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const forget = onExit(() => child.kill('SIGKILL'));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => { forget(); r(code); }));
  try {
    const deadline = Date.now() + 30_000;
    while (!log.includes('"msg":"gateway started"')) {
      assert.equal(child.exitCode, null, log);
      assert.ok(Date.now() < deadline, log);
      await new Promise((r) => setTimeout(r, 100));
    }
    const ca = await readFile(join(certs, 'ca.crt'), 'utf8');
    assert.equal((await request(`https://127.0.0.1:${port}/v2/`, { ca, user: 'alice:alice-pw' })).status, 200);
    assert.equal((await request(`https://127.0.0.1:${port}/trust/ca.crt`, { ca })).status, 200);
  } finally {
    child.kill('SIGTERM');
    assert.equal(await exited, 0, log);
  }
  assert.equal(existsSync('/etc/gateway'), false, 'nothing written to the machine\'s /etc');
});
