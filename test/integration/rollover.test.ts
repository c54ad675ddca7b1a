// A CA rollover under a running gateway, with the real clients: docker,
// containerd (ctr) and skopeo. Two nodes are set up before it with the
// pinned command `gateway serve` logs (curl, SHA-256 check, /trust/install.sh
// --root NODE): node A re-runs it once, in the first phase; node B never does.
// A keeps pulling through every phase; B fails only at the switch, with
// "x509: certificate signed by unknown authority". The gateway is never
// restarted: it picks up each phase from the files.
//
// The gateway runs in a test network namespace (docker skips certificate
// checks on loopback). One dockerd plays each node in turn: before a node's
// pull, the ca.crt that node's setup installed under its root is put into
// /etc/docker/certs.d/ADDRESS (guarded: removed afterwards). containerd and
// skopeo read each node's root directly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanupList } from '../helpers/cleanup.js';
import { startContainerd } from '../helpers/containerd.js';
import { guardDirectory, startDockerd } from '../helpers/docker.js';
import { exec, gateway as gatewayCli } from '../helpers/exec.js';
import { buildImage, skopeoPolicy } from '../helpers/oci.js';
import { namespacedGateway } from '../helpers/testHost.js';
import { rolloverStep } from '../helpers/rollover.js';

const cleanups = cleanupList();
const { work, host: testHost, certs, address, gw } = await namespacedGateway(cleanups);

await guardDirectory('/etc/docker', cleanups);
const dockerd = await startDockerd(work, cleanups);
await mkdir(join(work, 'containerd'));
const containerd = await startContainerd(join(work, 'containerd'));
cleanups.push(() => containerd.stop());
const policy = await skopeoPolicy(work);
const skopeo = (args: string[]) => exec('skopeo', ['--policy', policy, ...args], { env: { ...process.env, HOME: work }, timeoutMs: 120_000 });

const image = `${address}/alice/app:v1`;
const UNKNOWN_AUTHORITY = /x509: certificate signed by unknown authority/;
const nodes = { a: { name: 'node-a', root: join(work, 'node-a') }, b: { name: 'node-b', root: join(work, 'node-b') } };
type Node = (typeof nodes)['a'];
const installed = (node: Node, runtime: 'docker' | 'containerd' | 'containers') => join(node.root, 'etc', runtime, 'certs.d', address);
const certCount = async (path: string) => (await readFile(path, 'utf8')).match(/BEGIN CERTIFICATE/g)?.length ?? 0;

/** The setup command the gateway logged last: at start, and again at every change. */
function setupCommand(): { caSha256: string; command: string } {
  const last = gw.entries().filter((e) => Array.isArray(e.commands)).at(-1)!;
  return { caSha256: String(last.caSha256), command: (last.commands as string[])[0]! };
}

/** What a user does on a node: the logged one-liner, with install.sh's --root for a per-node root. */
async function setUp(node: Node): Promise<void> {
  const { command } = setupCommand();
  assert.ok(command.includes(`https://${address}`), command);
  const r = await exec('sh', ['-c', `${command} --root ${node.root} --runtimes docker,containerd,containers`]);
  assert.equal(r.code, 0, `setup of ${node.name}: ${r.stderr}${r.stdout}`);
}

/** Runs a rollover step and waits until the running gateway serves its CA set. */
async function step(name: 'start' | 'switch' | 'finish'): Promise<void> {
  const expected = await rolloverStep(gw, certs, name);
  assert.equal(setupCommand().caSha256, expected);
}

/** dockerd takes this node's place: the ca.crt its setup installed (docker reads certs.d at every pull). */
async function dockerAs(node: Node): Promise<void> {
  await mkdir(join('/etc/docker/certs.d', address), { recursive: true });
  await copyFile(join(installed(node, 'docker'), 'ca.crt'), join('/etc/docker/certs.d', address, 'ca.crt'));
}

let pulls = 0;
/** One pull per client as this node; every result, to assert on. */
async function pullAll(node: Node): Promise<Record<'docker' | 'containerd' | 'skopeo', { code: number; stderr: string }>> {
  await dockerAs(node);
  const docker = await dockerd.docker(['pull', image]);
  const ctr = await containerd.ctr(['-n', node.name, 'images', 'pull', '--hosts-dir', join(node.root, 'etc', 'containerd', 'certs.d'),
    '--user', 'alice:alice-pw', image]);
  const sk = await skopeo(['copy', '--src-cert-dir', installed(node, 'containers'), '--src-creds', 'alice:alice-pw',
    `docker://${image}`, `dir:${join(work, `pulled-${pulls++}`)}`]);
  return { docker, containerd: ctr, skopeo: sk };
}

async function expectPulls(node: Node, works: boolean): Promise<void> {
  for (const [client, r] of Object.entries(await pullAll(node))) {
    if (works) assert.equal(r.code, 0, `${client} as ${node.name}: ${r.stderr}`);
    else {
      assert.notEqual(r.code, 0, `${client} as ${node.name} should fail`);
      assert.match(r.stderr, UNKNOWN_AUTHORITY, `${client} as ${node.name}`);
    }
  }
}

test('before the rollover: both nodes, set up with the logged command, pull with docker, containerd and skopeo', async () => {
  await setUp(nodes.a);
  await setUp(nodes.b);
  assert.equal(await certCount(join(installed(nodes.a, 'containerd'), 'ca.crt')), 1);
  const layout = await buildImage(join(work, 'image'), 'v1', [64 * 1024]);
  const push = await skopeo(['copy', '--dest-cert-dir', installed(nodes.a, 'containers'), '--dest-creds', 'alice:alice-pw',
    `oci:${layout}:v1`, `docker://${image}`]);
  assert.equal(push.code, 0, push.stderr);
  await dockerAs(nodes.a);
  const login = await dockerd.docker(['login', address, '-u', 'alice', '--password-stdin'], 'alice-pw');
  assert.equal(login.code, 0, login.stderr);
  await expectPulls(nodes.a, true);
  await expectPulls(nodes.b, true);
});

test('start: the running gateway gives nodes both CAs; A re-runs its setup once; both still pull', async () => {
  const before = setupCommand().caSha256;
  await step('start');
  assert.notEqual(setupCommand().caSha256, before, 'the logged setup command pins the new CA set');
  await setUp(nodes.a);
  for (const runtime of ['docker', 'containerd', 'containers'] as const) {
    assert.equal(await certCount(join(installed(nodes.a, runtime), 'ca.crt')), 2, `${runtime} on node A holds both CAs`);
    assert.equal(await certCount(join(installed(nodes.b, runtime), 'ca.crt')), 1, `${runtime} on node B holds the old CA only`);
  }
  await expectPulls(nodes.a, true);
  await expectPulls(nodes.b, true);
});

test('switch: server.crt is from the new CA; A keeps pulling; B fails with x509 unknown authority', async () => {
  await step('switch');
  await expectPulls(nodes.a, true);
  await expectPulls(nodes.b, false);
});

test('finish: the old CA is no longer given out; A keeps pulling; B pulls again once set up with the command logged now', async () => {
  await step('finish');
  assert.equal(await certCount(join(certs, 'ca.crt')), 1);
  await expectPulls(nodes.a, true);
  await expectPulls(nodes.b, false);
  await setUp(nodes.b);
  assert.equal(await certCount(join(installed(nodes.b, 'containerd'), 'ca.crt')), 1, 'the new CA alone');
  await expectPulls(nodes.b, true);
  assert.equal(gw.entries().filter((e) => e.msg === 'gateway started').length, 1, 'one gateway process, never restarted');
});

