// Trust bundles, proven by the clients that use them. The gateway runs in a
// test network namespace so that no client treats it as a loopback registry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { exec, gateway as gatewayCli } from '../helpers/exec.js';
import { cleanupList } from '../helpers/cleanup.js';
import { startContainerd } from '../helpers/containerd.js';
import { guardDirectory, importImage, startDockerd, type Cleanups } from '../helpers/docker.js';
import { buildImage, skopeoPolicy } from '../helpers/oci.js';
import { namespacedGateway } from '../helpers/testHost.js';

const cleanups = cleanupList();
const { work, host: testHost, certs, address: addr, gw } = await namespacedGateway(cleanups);

const bundle = join(work, 'bundle');
const made = await gatewayCli(['bundle', '--host', addr, '--certs', certs, '--out', bundle, '--tar']);
assert.equal(made.code, 0, made.stderr);
const caPem = await readFile(join(certs, 'ca.crt'), 'utf8');
const policy = await skopeoPolicy(work);
const skopeo = (args: string[]) => exec('skopeo', ['--policy', policy, ...args], { env: { ...process.env, HOME: work, XDG_RUNTIME_DIR: work }, timeoutMs: 300_000 });
const install = (args: string[]) => exec('sh', [join(bundle, 'install.sh'), ...args]);

test('gateway bundle: bad input is refused with exit 2 and writes nothing', async () => {
  const out = join(work, 'never');
  for (const [args, message] of [[[], /at least one --host/], [['--host', 'a..b:1'], /invalid --host 'a\.\.b:1'/], [['--host', addr, '--client-cert'], /--client-cert needs --node/], [['--host', addr, '--certs', join(work, 'nowhere')], /CA certificate not found/],
    // No port would silently have meant 443, while the gateway listens on 5443.
    [['--host', testHost.address], new RegExp(`invalid --host '${testHost.address}': no port\\. Write ${testHost.address}:5443 \\(the gateway listens on 5443 by default\\), or ${testHost.address}:443 if it really serves on 443`)],
    [['--host', addr, '--daemonset-image', 'Not An Image'], /invalid --daemonset-image 'Not An Image': expected an image reference/],
    [['--host', addr, '--daemonset-image', 'busybox:1.36', '--daemonset-for', 'containerd,cri-o'], /invalid --daemonset-for 'cri-o': choose from containerd, docker, k3s, rke2/],
    [['--host', addr, '--daemonset-for', 'k3s'], /--daemonset-for needs --daemonset-image IMAGE/]] as const) {
    const r = await gatewayCli(['bundle', '--out', out, '--certs', certs, ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
  }
  assert.ok(!existsSync(out));
  assert.ok(existsSync(join(work, 'bundle.tar.gz')), '--tar wrote the tarball beside --out');
  assert.match(made.stdout, /sh .*install\.sh/);
});

test('gateway bundle: LF only in every file, and a DaemonSet only with the image named (warned about when it is on Docker Hub)', async () => {
  const paths = (await readdir(bundle, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
  assert.ok(paths.length >= 15, `${paths.length} files`);
  for (const p of paths) assert.ok(!(await readFile(p, 'utf8')).includes('\r'), `${p} has a \\r`);
  assert.doesNotMatch(await readFile(join(bundle, 'kubernetes', 'registry-trust.yaml'), 'utf8'), /kind: DaemonSet/);
  const out = join(work, 'with-ds');
  const r = await gatewayCli(['bundle', '--host', addr, '--certs', certs, '--out', out, '--daemonset-image', 'busybox:1.36', '--daemonset-for', 'k3s']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /comes from Docker Hub: air-gapped nodes cannot pull it/);
  const trust = await readFile(join(out, 'kubernetes', 'registry-trust.yaml'), 'utf8');
  assert.match(trust, /image: busybox:1\.36/);
  assert.match(trust, /path: \/var\/lib\/rancher\/k3s\/agent\/etc\/containerd\/certs\.d/);
});

test('install.sh --root: installs per runtime, is idempotent, --dry-run changes nothing, never edits config.toml', async () => {
  const root = join(work, 'root');
  await mkdir(join(root, 'etc', 'containerd'), { recursive: true });
  const config = 'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "pause:3.9"\n';
  await writeFile(join(root, 'etc', 'containerd', 'config.toml'), config);
  const dry = await install(['--root', root, '--runtimes', 'docker,containerd,containers,k3s', '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /would write/);
  assert.deepEqual(await readdir(join(root, 'etc')), ['containerd']);
  const first = await install(['--root', root, '--runtimes', 'docker,containerd,containers,k3s']);
  assert.equal(first.code, 0, first.stderr);
  for (const p of [`etc/docker/certs.d/${addr}/ca.crt`, `etc/containerd/certs.d/${addr}/ca.crt`, `etc/containers/certs.d/${addr}/ca.crt`, `etc/rancher/k3s/certs.d/${addr}/ca.crt`]) {
    assert.equal(await readFile(join(root, p), 'utf8'), caPem, p);
  }
  assert.equal(await readFile(join(root, 'etc', 'containerd', 'config.toml'), 'utf8'), config, 'config.toml untouched');
  assert.match(first.stdout, /config_path = "\/etc\/containerd\/certs\.d"/);
  assert.match(first.stdout, /restart containerd/);
  // k3s: registries.yaml parses and every file it names exists after install.
  const reg = parseYaml(await readFile(join(root, 'etc', 'rancher', 'k3s', 'registries.yaml'), 'utf8'));
  assert.deepEqual(reg.mirrors[addr].endpoint, [`https://${addr}`]);
  assert.ok(existsSync(join(root, reg.configs[addr].tls.ca_file)), reg.configs[addr].tls.ca_file);
  const again = await install(['--root', root, '--runtimes', 'docker,containerd,containers,k3s']);
  assert.match(again.stdout, /nothing to change/);
  assert.doesNotMatch(again.stdout, /^wrote/m);
  // An existing, different registries.yaml is left alone, with the entries to merge printed.
  await writeFile(join(root, 'etc', 'rancher', 'k3s', 'registries.yaml'), 'mirrors: {}\n');
  const k3s = await install(['--root', root, '--runtimes', 'k3s']);
  assert.equal(await readFile(join(root, 'etc', 'rancher', 'k3s', 'registries.yaml'), 'utf8'), 'mirrors: {}\n');
  assert.match(k3s.stdout, /exists and was not changed; merge these entries/);
});

test('install.sh refuses a CA whose SHA-256 is not the bundle\'s, installing nothing', async () => {
  const fake = join(work, 'fake.crt');
  await writeFile(fake, caPem.replace('A', 'B'));
  const root = join(work, 'root-fake');
  const r = await install(['--root', root, '--runtimes', 'docker', '--ca', fake]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /refusing to install anything/);
  assert.ok(!existsSync(root));
});

test('skopeo with the bundle\'s containers/certs.d/HOST:PORT pushes and pulls; containerd pulls with the bundle as hosts dir and fails without it', async () => {
  const layout = await buildImage(join(work, 'img'), 'v1', [512 * 1024]);
  const certDir = join(bundle, 'containers', 'certs.d', addr);
  const push = await skopeo(['copy', '--dest-cert-dir', certDir, '--dest-creds', 'alice:alice-pw', `oci:${layout}:v1`, `docker://${addr}/alice/app:v1`]);
  assert.equal(push.code, 0, push.stderr);
  const pull = await skopeo(['inspect', '--cert-dir', certDir, '--creds', 'alice:alice-pw', `docker://${addr}/alice/app:v1`]);
  assert.equal(pull.code, 0, pull.stderr);

  const root = join(work, 'containerd');
  const containerd = await startContainerd(root);
  try {
    const ctrPull = (hostsDir: string) => containerd.ctr(['images', 'pull', '--hosts-dir', hostsDir, '--user', 'alice:alice-pw', `${addr}/alice/app:v1`]);
    const ok = await ctrPull(join(bundle, 'containerd', 'certs.d'));
    assert.equal(ok.code, 0, ok.stderr);
    await mkdir(join(root, 'empty'));
    const without = await ctrPull(join(root, 'empty'));
    assert.notEqual(without.code, 0);
    assert.match(without.stderr, /x509: certificate signed by unknown authority/);
  } finally {
    await containerd.stop();
  }
});

test('docker, with only what install.sh put in /etc/docker/certs.d, logs in, pushes and pulls', async () => {
  await guardDirectory('/etc/docker', cleanups);
  const dockerd = await startDockerd(work, cleanups);
  const before = await dockerd.docker(['login', addr, '-u', 'alice', '--password-stdin'], 'alice-pw');
  assert.notEqual(before.code, 0, 'not trusted before install.sh');
  assert.match(before.stderr, /x509|certificate/);
  const r = await install(['--root', '/', '--runtimes', 'docker']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await readFile(`/etc/docker/certs.d/${addr}/ca.crt`, 'utf8'), caPem);
  assert.equal((await dockerd.docker(['login', addr, '-u', 'alice', '--password-stdin'], 'alice-pw')).code, 0);
  const image = `${addr}/alice/docker:v1`;
  await importImage(dockerd, work, image);
  const push = await dockerd.docker(['push', image]);
  assert.equal(push.code, 0, push.stderr);
  assert.equal((await dockerd.docker(['rmi', image])).code, 0);
  const pull = await dockerd.docker(['pull', image]);
  assert.equal(pull.code, 0, pull.stderr);
});

test('/trust/ serves ca.crt, install.sh and the bundle without auth', async () => {
  const get = (path: string) => exec('curl', ['-fsS', '--cacert', join(certs, 'ca.crt'), `https://${addr}${path}`]);
  assert.equal((await get('/trust/ca.crt')).stdout, caPem);
  assert.match((await get('/trust/install.sh')).stdout, /^#!\/bin\/sh/);
  // The page KEP-1755's help points at: the files and the steps, with the pinned command.
  const index = (await get('/trust/')).stdout;
  assert.match(index, new RegExp(`https://${addr.replace(/\./g, '\\.')}/trust/ca\\.crt`));
  assert.ok(index.includes("sh -c 'f=$(mktemp)"), index);
  assert.match(index, /restart containerd/);
  const dir = join(work, 'served');
  await mkdir(dir);
  const tgz = await exec('curl', ['-fsS', '--cacert', join(certs, 'ca.crt'), '-o', join(dir, 'b.tar.gz'), `https://${addr}/trust/bundle.tar.gz`]);
  assert.equal(tgz.code, 0, tgz.stderr);
  assert.equal((await exec('tar', ['-C', dir, '-xzf', join(dir, 'b.tar.gz')])).code, 0);
  assert.equal(await readFile(join(dir, 'registry-trust', 'docker', 'certs.d', addr, 'ca.crt'), 'utf8'), caPem);
  assert.ok(!(await exec('grep', ['-rl', 'PRIVATE KEY', dir])).stdout, 'public material only');
});

test('the pinned one-liner printed at start installs into a test root, and refuses a wrong fingerprint', async () => {
  // Logged as JSON (stdout is not a terminal): the node-setup line holds the commands.
  const line = (gw.entries().find((e) => Array.isArray(e.commands))?.commands as string[] | undefined)?.[0] ?? '';
  // The short one (src/trust/setup.ts): the CA checked, then /trust/setup over TLS verified by it.
  assert.ok(line.startsWith("sh -c 'c=$(curl -fsSk "), gw.logs());
  const tmp = join(work, 'tmp');
  await mkdir(tmp);
  const env = { ...process.env, TMPDIR: tmp };
  const root = join(work, 'pinned');
  const ok = await exec('sh', ['-c', `${line} --root ${root} --runtimes docker,containerd`], { env });
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(await readFile(join(root, 'etc', 'docker', 'certs.d', addr, 'ca.crt'), 'utf8'), caPem);
  assert.ok(existsSync(join(root, 'etc', 'containerd', 'certs.d', addr, 'hosts.toml')));
  const wrongRoot = join(work, 'pinned-wrong');
  const pinned = /= "([0-9a-f]{64}) {2}-" \]/.exec(line)![1]!;
  const wrong = line.replaceAll(pinned, '0'.repeat(64));
  assert.notEqual(wrong, line);
  const refused = await exec('sh', ['-c', `${wrong} --root ${wrongRoot} --runtimes docker`], { env });
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /setup: not the CA this command pins: refusing it/);
  assert.ok(!existsSync(wrongRoot), 'nothing installed');
  assert.deepEqual(await readdir(tmp), [], 'no downloaded copy left behind, after success or refusal');
});
