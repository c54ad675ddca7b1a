// Rootless podman, as a user on a stock Debian host runs it: a throwaway
// user (useradd: home and XDG_RUNTIME_DIR in this file's directory, and a
// subordinate id range in /etc/subuid and /etc/subgid) loads the image with
// the README's skopeo line, makes its certificates and users with the gateway
// command, writes the mounts with `gateway deploy container --out ~/gw`, and
// runs the rootless command that prints, exactly as printed: on port 5443,
// `--network host`, its upstream a registry on loopback. That happens in a
// test host (a network namespace, test/helpers/netns.ts), so 5443 is free and
// the test reaches it at the namespace's address: /v2/ with the user's
// password over TLS verified with the CA from ~/gw, skopeo pushing and
// pulling through it, and a manifest GET seeing what reached the upstream.
//
// Afterwards nothing of the user remains: its processes (podman's pause
// process, conmon, slirp4netns, the container) are killed by pid, the user
// and its group are deleted, /etc/subuid and /etc/subgid are restored byte
// for byte, and the files it left in /tmp, /var/tmp, /dev/shm and /run (e.g.
// podman's /dev/shm/libpod_rootless_lock_UID) are removed; the last test
// checks all of it, and the same cleanup runs on failure and at exit.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, readlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onExit } from '../helpers/cleanup.js';
import { eventually } from '../helpers/eventually.js';
import { exec, ROOT, type ExecResult } from '../helpers/exec.js';
import { request } from '../helpers/https.js';
import { imageSnapshot, unpackImage } from '../helpers/image.js';
import { createTestHost } from '../helpers/netns.js';
import { buildImage, skopeoPolicy } from '../helpers/oci.js';
import { startRegistry } from '../helpers/registry.js';

const started = Date.now();
const timings: Record<string, number> = {};
const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
  const t0 = Date.now();
  try {
    return await f();
  } finally {
    timings[name] = Date.now() - t0;
  }
};
const version = (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

// The directory holds the user's home, so the user must be able to pass through it.
const work = await mkdtemp(join(tmpdir(), 'gw-rootless-'));
await chmod(work, 0o711);
const name = `gw-rootless-${process.pid}`;
const home = join(work, 'home');
const runtimeDir = join(work, 'run');
/** Files useradd and userdel change: the first two are restored byte for byte, the rest must lose every trace of the user. */
const ETC = ['/etc/subuid', '/etc/subgid', '/etc/passwd', '/etc/group', '/etc/shadow', '/etc/gshadow'].filter((f) => existsSync(f));
const etcBefore = new Map(ETC.map((f) => [f, readFileSync(f)]));
/** The user's ids on this host: its uid, and the subordinate range its containers' other ids map to. */
let ids: { uid: number; gid: number; sub: { start: number; count: number } } | undefined;
const ours = (uid: number) => ids !== undefined && (uid === ids.uid || (uid >= ids.sub.start && uid < ids.sub.start + ids.sub.count));

const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
/** Processes (zombies too) with any of their uids in the user's ids, from /proc. */
function processes(): { pid: number; line: string }[] {
  const found: { pid: number; line: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      const uids = (/^Uid:\s+(.*)$/m.exec(status)?.[1] ?? '').split(/\s+/).map(Number);
      if (!uids.some(ours)) continue;
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      found.push({ pid: Number(entry), line: `${entry} ${/^State:\s+(.*)$/m.exec(status)?.[1] ?? '?'} ${cmd.slice(0, 120)}` });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}
/** What the user left outside the test directory. */
function leftovers(): string[] {
  if (ids === undefined) return [];
  const { uid, sub } = ids;
  const r = spawnSync('find', ['/tmp', '/var/tmp', '/dev/shm', '/run', '-xdev', '(', '-uid', String(uid), '-o', '(',
    '-uid', `+${sub.start - 1}`, '-uid', `-${sub.start + sub.count}`, ')', ')', '-prune', '-print'], { encoding: 'utf8', timeout: 60_000 });
  return r.stdout.split('\n').filter((p) => p && p !== work && !p.startsWith(`${work}/`));
}

/** Undoes everything, synchronously (also at exit and on a crash); returns what it found to undo. */
function cleanup(): { killed: string[]; removed: string[]; userdel: string } {
  const killed: string[] = [];
  // Every process of the user, by pid, until none is left (a zombie goes once init reaps it).
  const deadline = Date.now() + 60_000;
  for (let list = processes(); list.length > 0 && Date.now() < deadline; list = processes()) {
    for (const p of list) {
      if (!killed.includes(p.line)) killed.push(p.line);
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    sleepSync(100);
  }
  let userdel = 'no user';
  if (spawnSync('getent', ['passwd', name]).status === 0) {
    const r = spawnSync('userdel', [name], { encoding: 'utf8' });
    userdel = r.status === 0 ? 'deleted' : `userdel failed: ${r.stderr}`;
  }
  for (const f of ['/etc/subuid', '/etc/subgid']) {
    const before = etcBefore.get(f);
    if (before !== undefined && !readFileSync(f).equals(before)) writeFileSync(f, before);
  }
  const removed = leftovers();
  for (const p of removed) rmSync(p, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
  return { killed, removed, userdel };
}
const forgetCleanup = onExit(() => void cleanup());

// The test host: the registry on its loopback, the user's podman in it (so --network host is its network).
const host = await createTestHost();
const registry = await startRegistry(work, { storage: join(work, 'storage'), prefix: host.prefix });

// The image, from a snapshot of the tree, readable by the user; its app is the user's `gateway` command.
const snapshot = await imageSnapshot(work);
const built = await timed('image build', () => snapshot.build(join(work, 'image')));
const layout = join(work, 'image', 'oci');
// The layout's tag is the version and the commit (scripts/image.sh); loaded as registry-gateway:VERSION,
// the name deploy container prints when no --image is given.
const tag = `${version}-${snapshot.revision.slice(0, 12)}`;
const unpacked = join(work, 'unpacked');
await unpackImage(layout, tag, 'amd64', unpacked);
const cli = join(unpacked, 'rootfs', 'app', 'dist', 'cli', 'main.js');
const small = await buildImage(join(work, 'small'), 'v1', [256 * 1024, 64 * 1024]);
const policy = await skopeoPolicy(work);
assert.equal((await exec('chmod', ['-R', 'a+rX', join(work, 'image'), unpacked, join(work, 'small'), policy])).code, 0);

// The user, with a subordinate range of 65536 ids (what Debian's useradd gives; -K makes it so whatever login.defs says).
const add = await exec('useradd', ['--create-home', '--home-dir', home, '--shell', '/bin/sh', '--user-group', '--no-log-init',
  '-K', 'SUB_UID_COUNT=65536', '-K', 'SUB_GID_COUNT=65536', name]);
assert.equal(add.code, 0, add.stderr);
const uid = Number((await exec('id', ['-u', name])).stdout);
const gid = Number((await exec('id', ['-g', name])).stdout);
const subLine = readFileSync('/etc/subuid', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
assert.ok(subLine, `useradd wrote no /etc/subuid line for ${name}`);
assert.ok(readFileSync('/etc/subgid', 'utf8').split('\n').some((l) => l.startsWith(`${name}:`)), `useradd wrote no /etc/subgid line for ${name}`);
ids = { uid, gid, sub: { start: Number(subLine.split(':')[1]), count: Number(subLine.split(':')[2]) } };
await mkdir(runtimeDir, { mode: 0o700 });
await chown(runtimeDir, uid, gid);

/**
 * A command as the user, in the test host's network namespace, with a login's environment only (nothing of root's).
 * nsenter, not `ip netns exec`: that one mounts a fresh /sys, without the cgroup mounts runc needs ("no cgroup mount found").
 */
const asUser = (args: string[], timeoutMs = 300_000): Promise<ExecResult> => exec('nsenter', [`--net=/run/netns/${host.name}`, '--',
  'runuser', '-u', name, '--', 'env', '-i', `HOME=${home}`, `USER=${name}`, `LOGNAME=${name}`, `XDG_RUNTIME_DIR=${runtimeDir}`,
  'PATH=/usr/local/bin:/usr/bin:/bin', 'sh', '-c', `cd && exec "$@"`, 'sh', ...args], { timeoutMs });
const mustAsUser = async (args: string[]): Promise<ExecResult> => {
  const r = await asUser(args);
  assert.equal(r.code, 0, `${args.join(' ')} (as ${name}) failed: ${r.stderr}`);
  return r;
};
const gatewayAsUser = (args: string[], input?: string) =>
  mustAsUser(input === undefined ? [process.execPath, cli, ...args] : ['sh', '-c', `printf %s "$0" | "$@"`, input, process.execPath, cli, ...args]);
const address = host.address;
// Last (after-hooks run in order): the user's processes first, then the registry and the namespace they ran in.
after(async () => {
  cleanup();
  forgetCleanup();
  await registry.stop();
  await host.remove();
});

test('the user loads the image with the README\'s skopeo line, and its podman is rootless', async (t) => {
  await timed('image load', () => mustAsUser(['skopeo', '--policy', policy, 'copy', `oci:${layout}:${tag}`,
    `containers-storage:localhost/registry-gateway:${version}`]));
  const info = await mustAsUser(['podman', 'info', '--format',
    '{{.Host.Security.Rootless}} {{.Store.GraphDriverName}} {{.Host.CgroupManager}} {{.Host.CgroupsVersion}} {{.Host.OCIRuntime.Name}}']);
  const [rootless, driver, manager, cgroups, runtime] = info.stdout.trim().split(' ');
  assert.equal(rootless, 'true');
  t.diagnostic(`podman ${(await mustAsUser(['podman', '--version'])).stdout.trim()}: storage ${driver}, cgroup manager ${manager}, ` +
    `cgroups ${cgroups}, default runtime ${runtime}; user ${name} uid ${uid}, subuid ${ids!.sub.start}:${ids!.sub.count}`);
  const images = await mustAsUser(['podman', 'images', '--format', '{{.Repository}}:{{.Tag}}']);
  assert.deepEqual(images.stdout.trim().split('\n'), [`localhost/registry-gateway:${version}`]);

  // Why the printed command says --runtime runc: crun either starts, or stops for the reason it gives.
  const crun = await asUser(['podman', '--runtime', 'crun', 'run', '--rm', '--network', 'host', `registry-gateway:${version}`, '--version']);
  if (crun.code === 0) t.diagnostic('crun starts containers here too');
  else {
    assert.match(crun.stderr, /cgroups in hybrid mode not supported/, crun.stderr);
    t.diagnostic(`crun here: ${crun.stderr.trim()}`);
  }
});

let printed = '';
test('as that user, certs init, users add and deploy container write ~/gw, owned by the user, and print the rootless command', async () => {
  await gatewayAsUser(['certs', 'init', '--dir', 'certs', '--host', address, '--host', 'localhost', '--host', '127.0.0.1']);
  await gatewayAsUser(['users', 'add', 'alice', '--password-stdin', '--file', 'htpasswd', '--cost', '4'], 'alice-password');
  await writeFile(join(home, 'gateway.yaml'), `upstream: ${registry.url}\ntls:\n  cert: certs/server.crt\n  key: certs/server.key\n` +
    'auth:\n  htpasswd: htpasswd\n');
  const made = await gatewayAsUser(['deploy', 'container', '--out', 'gw', '--config', 'gateway.yaml']);
  assert.match(made.stdout, new RegExp(`owned by you \\(uid ${uid}\\): use the rootless command`));
  const lines = made.stdout.split('\n');
  printed = lines[lines.findIndex((l) => l.startsWith('Rootless (')) + 1]?.trim() ?? '';
  const mounts = ['certs', 'config', 'users'].map((f) => `-v ${home}/gw/${f}:/etc/gateway/${f}:ro`).join(' ');
  assert.equal(printed, 'podman --runtime runc run -d --name registry-gateway --read-only --network host ' +
    `--userns keep-id:uid=65532,gid=65532 ${mounts} registry-gateway:${version}`);
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  assert.ok(readme.includes('podman --runtime runc run -d --name registry-gateway --read-only --network host \\\n' +
    '  --userns keep-id:uid=65532,gid=65532 \\\n'), 'the README shows the rootless command as printed');
});

test('the printed rootless command, run as printed, serves: /v2/ over verified TLS, skopeo push and pull through it to the upstream', async (t) => {
  assert.ok(printed, 'the command was printed');
  const run = await timed('podman run -d', () => mustAsUser(['sh', '-c', printed]));
  const id = run.stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  await timed('start to "gateway started"', () => eventually(async () => {
    const logs = await asUser(['podman', 'logs', 'registry-gateway']);
    const state = await asUser(['podman', 'inspect', '--format', '{{.State.Status}}', 'registry-gateway']);
    assert.equal(state.stdout.trim(), 'running', `the container stopped: ${logs.stdout}${logs.stderr}`);
    assert.match(logs.stdout, /"msg":"gateway started"/);
  }, 60_000));

  // It is rootless: the gateway runs as the user on this host, PID 1 of a user namespace not ours.
  const pid = Number((await mustAsUser(['podman', 'inspect', '--format', '{{.State.Pid}}', 'registry-gateway'])).stdout);
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  assert.match(status, new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, 'm'));
  assert.match(status, /^NSpid:\s+\d+\s+1$/m);
  assert.notEqual(await readlink(`/proc/${pid}/ns/user`), await readlink('/proc/self/ns/user'));

  const ca = await readFile(join(home, 'gw', 'certs', 'ca.crt'), 'utf8');
  const base = `https://${address}:5443`;
  assert.equal((await request(`${base}/v2/`, { ca, user: 'alice:alice-password' })).status, 200);
  assert.equal((await request(`${base}/v2/`, { ca })).status, 401);
  assert.equal((await request(`${base}/v2/`, { ca, user: 'alice:wrong-password' })).status, 401);
  // Verified: another CA is refused.
  const other = join(work, 'other-ca');
  assert.equal((await exec(process.execPath, [cli, 'certs', 'init', '--dir', other, '--host', address])).code, 0);
  await assert.rejects(request(`${base}/v2/`, { ca: await readFile(join(other, 'ca.crt'), 'utf8') }), /self[- ]signed|unable to verify|certificate/i);

  // skopeo, as the user, with the CA from ~/gw: push through the gateway to the registry and pull back.
  const certDir = join(home, 'trust');
  await mustAsUser(['mkdir', '-p', certDir]);
  await mustAsUser(['cp', join(home, 'gw', 'certs', 'ca.crt'), join(certDir, 'ca.crt')]);
  const ref = `docker://${address}:5443/alice/small:v1`;
  await timed('skopeo push', () => mustAsUser(['skopeo', '--policy', policy, 'copy', '--dest-cert-dir', certDir, '--dest-creds',
    'alice:alice-password', `oci:${small}:v1`, ref]));
  await timed('skopeo pull', () => mustAsUser(['skopeo', '--policy', policy, 'copy', '--src-cert-dir', certDir, '--src-creds',
    'alice:alice-password', ref, `oci:${join(home, 'back')}:v1`]));
  const index = (dir: string) => JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')).manifests[0].digest as string;
  assert.equal(index(join(home, 'back')), index(small));
  // What the gateway stored is in the upstream: its manifest, fetched from the registry itself (in the test host).
  const upstream = await exec(host.prefix[0]!, [...host.prefix.slice(1), 'curl', '-fsS', '-o', '/dev/null', '-w', '%{http_code}',
    '-H', 'Accept: application/vnd.oci.image.manifest.v1+json', `${registry.url}/v2/alice/small/manifests/${index(small)}`]);
  assert.equal(upstream.stdout, '200', upstream.stderr);
  const manifest = await request(`${base}/v2/alice/small/manifests/v1`, { ca, user: 'alice:alice-password',
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  assert.equal(manifest.status, 200);
  assert.equal(manifest.headers['docker-content-digest'], index(small));
  t.diagnostic(`container ${id.slice(0, 12)}, gateway pid ${pid} (uid ${uid}); ${JSON.stringify(timings)}`);
});

test('podman stop (as the command\'s README says): the gateway drains and exits 0; podman rm leaves no container', async () => {
  await timed('podman stop', () => mustAsUser(['podman', 'stop', 'registry-gateway']));
  const state = await mustAsUser(['podman', 'inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', 'registry-gateway']);
  assert.equal(state.stdout.trim(), 'exited 0');
  assert.match((await mustAsUser(['podman', 'logs', 'registry-gateway'])).stdout, /"msg":"stopped"/);
  await mustAsUser(['podman', 'rm', 'registry-gateway']);
  assert.equal((await mustAsUser(['podman', 'ps', '--all', '--quiet'])).stdout.trim(), '');
});

test('cleanup: the user\'s processes killed by pid, the user deleted, /etc/subuid and /etc/subgid as they were, no file left', async (t) => {
  const t0 = Date.now();
  const done = cleanup();
  t.diagnostic(`cleanup in ${Date.now() - t0} ms: ${done.userdel}; killed ${done.killed.length}: ${JSON.stringify(done.killed)}; ` +
    `removed ${JSON.stringify(done.removed)}`);
  assert.equal(done.userdel, 'deleted');
  assert.deepEqual(processes(), []);
  assert.notEqual((await exec('getent', ['passwd', name])).code, 0);
  assert.notEqual((await exec('getent', ['group', name])).code, 0);
  for (const f of ETC) {
    const now = readFileSync(f);
    if (f.endsWith('subuid') || f.endsWith('subgid')) assert.ok(now.equals(etcBefore.get(f)!), `${f} is not as it was`);
    else assert.ok(!now.toString().split('\n').some((l) => l.startsWith(`${name}:`)), `${f} still names ${name}`);
  }
  assert.deepEqual(leftovers(), []);
  assert.equal(existsSync(work), false);
  t.diagnostic(`whole file ${Math.round((Date.now() - started) / 1000)} s; image build ${built.ms} ms`);
});
