// install.sh's containerd advice, proven by the thing it is about: Debian's
// real containerd, started with the config.toml install.sh examined and
// changed as it said, pulling through its CRI plugin (the image service the
// kubelet uses, and the only containerd client that reads the CRI
// config_path; `ctr --hosts-dir` does not). No CRI client is packaged for
// Debian (cri-tools is not), so this file speaks the CRI gRPC API itself
// over HTTP/2. The node's /etc/containerd is the test root's, bind-mounted
// in a private mount namespace: the config's absolute config_path is read as
// printed, and the machine's own /etc is never touched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect as http2Connect } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exec, gateway as gatewayCli, ROOT } from '../helpers/exec.js';
import { cleanupList, onExit } from '../helpers/cleanup.js';
import { buildImage, skopeoPolicy } from '../helpers/oci.js';
import { namespacedGateway } from '../helpers/testHost.js';

const cleanups = cleanupList();
const { work, host: testHost, certs, address: addr, gw } = await namespacedGateway(cleanups);
const bundle = join(work, 'bundle');
const made = await gatewayCli(['bundle', '--host', addr, '--certs', certs, '--out', bundle]);
assert.equal(made.code, 0, made.stderr);
const image = `${addr}/alice/cri:v1`;
{
  const layout = await buildImage(join(work, 'img'), 'v1', [64 * 1024]);
  const policy = await skopeoPolicy(work);
  const push = await exec('skopeo', ['--policy', policy, 'copy', '--dest-cert-dir', join(bundle, 'containers', 'certs.d', addr), '--dest-creds', 'alice:alice-pw', `oci:${layout}:v1`, `docker://${image}`], { env: { ...process.env, HOME: work, XDG_RUNTIME_DIR: work }, timeoutMs: 300_000 });
  assert.equal(push.code, 0, push.stderr);
}

// --- A CRI client: protobuf by hand (three string fields), gRPC over HTTP/2.
const varint = (n: number) => { const b: number[] = []; while (n > 127) { b.push((n & 127) | 128); n >>>= 7; } b.push(n); return Buffer.from(b); };
const field = (no: number, body: Buffer) => Buffer.concat([varint((no << 3) | 2), varint(body.length), body]);
const str = (no: number, s: string) => field(no, Buffer.from(s));

/** runtime.v1.ImageService/PullImage: the image's ref, or the gRPC error. */
function criPull(sock: string, ref: string, user: string, password: string): Promise<{ ok: true; ref: string } | { ok: false; message: string }> {
  // PullImageRequest{ image: ImageSpec{ image }, auth: AuthConfig{ username, password } }
  const msg = Buffer.concat([field(1, str(1, ref)), field(2, Buffer.concat([str(1, user), str(2, password)]))]);
  const frame = Buffer.concat([Buffer.from([0]), Buffer.alloc(4), msg]);
  frame.writeUInt32BE(msg.length, 1);
  return new Promise((resolve, reject) => {
    const client = http2Connect('http://localhost', { createConnection: () => netConnect(sock) });
    client.on('error', reject);
    const req = client.request({ ':method': 'POST', ':path': '/runtime.v1.ImageService/PullImage', 'content-type': 'application/grpc', te: 'trailers' });
    const chunks: Buffer[] = [];
    let status: string | undefined;
    let message = '';
    const take = (h: Record<string, unknown>) => {
      if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
      if (h['grpc-message'] !== undefined) message = decodeURIComponent(String(h['grpc-message']));
    };
    req.on('response', take);
    req.on('trailers', take);
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      client.close();
      if (status !== '0') return resolve({ ok: false, message: `grpc-status ${status}: ${message}` });
      const body = Buffer.concat(chunks).subarray(5);
      // PullImageResponse{ image_ref = 1 }: tag, length (< 128), bytes.
      resolve({ ok: true, ref: body.subarray(2, 2 + body[1]!).toString() });
    });
    req.on('error', reject);
    req.end(frame);
  });
}

// --- containerd with the node root's /etc/containerd.
async function startNodeContainerd(nodeRoot: string, state: string) {
  const sock = join(state, 'containerd.sock');
  const script = `mount --bind "${join(nodeRoot, 'etc', 'containerd')}" /etc/containerd && exec containerd --config /etc/containerd/config.toml ` +
    `--root "${join(state, 'root')}" --state "${join(state, 'state')}" --address "${sock}"`;
  const daemon = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  daemon.stdout!.on('data', (d) => (log += d));
  daemon.stderr!.on('data', (d) => (log += d));
  const forget = onExit(() => daemon.kill('SIGKILL'));
  const exited = new Promise((r) => daemon.once('exit', r));
  const stop = async () => { daemon.kill('SIGTERM'); await exited; forget(); };
  const deadline = Date.now() + 30_000;
  // Up once the CRI plugin answers (it loads after the core services).
  while (!log.includes('serving...') || (await exec('ctr', ['--address', sock, 'version'])).code !== 0) {
    if (daemon.exitCode !== null || Date.now() > deadline) { await stop(); throw new Error(`containerd did not start: ${log}`); }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { sock, stop, log: () => log };
}

test('containerd 1.6 default config: install.sh says which line turns certs.d off; with that line changed as printed, a CRI pull trusts the gateway through the installed certs.d alone', async () => {
  const nodeRoot = join(work, 'node');
  await mkdir(join(nodeRoot, 'etc', 'containerd'), { recursive: true });
  // As `containerd config default` writes it for 1.6, with the paths that
  // would reach outside the test moved into it (nothing about registries).
  const fixture = await readFile(join(ROOT, 'test', 'fixtures', 'containerd', 'config-1.6-default.toml'), 'utf8');
  const conf = join(nodeRoot, 'etc', 'containerd', 'config.toml');
  const contained = fixture
    .replace('path = "/opt/containerd"', `path = "${join(work, 'opt')}"`)
    .replace('conf_dir = "/etc/cni/net.d"', `conf_dir = "${join(work, 'cni')}"`);
  await writeFile(conf, contained);
  const install = await exec('sh', [join(bundle, 'install.sh'), '--root', nodeRoot, '--runtimes', 'containerd']);
  assert.equal(install.code, 0, install.stderr);
  assert.equal(await readFile(conf, 'utf8'), contained, 'config.toml is never edited');
  const said = /line (\d+) has config_path = "", which turns certs\.d off[^\n]*\n[^\n]*change that line to this[^\n]*\n\s*(config_path = "[^"]*")/.exec(install.stdout);
  assert.ok(said, install.stdout);
  const [lineNo, replacement] = [Number(said[1]), said[2]!];
  assert.equal(replacement, 'config_path = "/etc/containerd/certs.d"');
  assert.equal(contained.split('\n')[lineNo - 1]!.trim(), 'config_path = ""', 'the line named is the one that turns it off');

  // As found: certs.d is installed, but the CRI plugin does not read it.
  const state = join(work, 'cstate');
  let containerd = await startNodeContainerd(nodeRoot, state);
  try {
    const before = await criPull(containerd.sock, image, 'alice', 'alice-pw');
    assert.equal(before.ok, false, 'config_path = "" means no certs.d');
    assert.match((before as { message: string }).message, /x509|certificate signed by unknown authority/);
  } finally {
    await containerd.stop();
  }

  // Changed as install.sh said, and restarted: now it pulls.
  const lines = contained.split('\n');
  lines[lineNo - 1] = lines[lineNo - 1]!.replace(/config_path = ""/, replacement);
  await writeFile(conf, lines.join('\n'));
  const again = await exec('sh', [join(bundle, 'install.sh'), '--root', nodeRoot, '--runtimes', 'containerd']);
  assert.equal(again.code, 0, again.stderr);
  assert.doesNotMatch(again.stdout, /containerd:/, 'nothing more to change');
  containerd = await startNodeContainerd(nodeRoot, state);
  try {
    const pulled = await criPull(containerd.sock, image, 'alice', 'alice-pw');
    assert.ok(pulled.ok, `${(pulled as { message?: string }).message}\n${containerd.log()}`);
    assert.match(pulled.ref, /^sha256:[0-9a-f]{64}$/);
    const listed = await exec('ctr', ['--address', containerd.sock, '--namespace', 'k8s.io', 'images', 'ls', '-q']);
    assert.match(listed.stdout, new RegExp(image.replace(/[.]/g, '\\.')));
    // Only the bundle's trust: without the CA file the same pull fails.
    await exec('rm', ['-f', join(nodeRoot, 'etc', 'containerd', 'certs.d', addr, 'ca.crt')]);
    await exec('ctr', ['--address', containerd.sock, '--namespace', 'k8s.io', 'images', 'rm', image]);
    const without = await criPull(containerd.sock, image, 'alice', 'alice-pw');
    assert.equal(without.ok, false);
  } finally {
    await containerd.stop();
  }
});
