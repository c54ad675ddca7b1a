// The Kubernetes node path as the kubelet takes it. No kubelet here: its part
// of a pull is one gRPC call, runtime.v1.ImageService/PullImage, with the
// AuthConfig it builds from the Pod's imagePullSecret. This file makes that
// call (test/helpers/cri.ts, on the CRI v1 image service, cri-images.proto) to Debian's
// containerd 1.6 with its CRI plugin, which finds the registry's TLS settings
// only through its registry.config_path, in the hosts.toml files the
// setup command (the gateway's logged one-liner, /trust/install.sh --root
// NODE), the unpacked bundle's install.sh or the DaemonSet's script
// installed under a node root. `ctr --hosts-dir` (the other containerd tests)
// bypasses all of that.
//
// Two gateways share one registry and CA in a test network namespace:
// htpasswd on :5443, token mode on :5444. containerd runs in that namespace
// too, so the address is not loopback and TLS is verified for real.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { parse as parseToml } from 'smol-toml';
import { cleanupList } from '../helpers/cleanup.js';
import { containerdDefaultConfig, kubeletAuthConfigs, startCriContainerd, type CriContainerd, type CriError } from '../helpers/cri.js';
import { exec, gateway as gatewayCli } from '../helpers/exec.js';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { request } from '../helpers/https.js';
import { buildImage, skopeoPolicy } from '../helpers/oci.js';
import { namespacedStage } from '../helpers/testHost.js';
import { rolloverStep } from '../helpers/rollover.js';

const cleanups = cleanupList();
const { work, host: testHost, certs, htpasswd } = await namespacedStage(cleanups);
// alice (alice-pw) comes with the stage.
const PASSWORDS: Record<string, string> = { alice: 'alice-pw', bob: 'bob-password' };
{
  const r = await gatewayCli(['users', 'add', 'bob', '--password-stdin', '--file', htpasswd, '--cost', '4'], { input: PASSWORDS.bob });
  assert.equal(r.code, 0, r.stderr);
}
// alice pulls and pushes her own repositories; bob only his.
const access = [{ account: '*', name: '${account}/**', actions: ['pull', 'push'] }];
const tls = { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') };
const addr = `${testHost.address}:5443`;
const tokenAddr = `${testHost.address}:5444`;
const gw = await startGateway(work, { listen: addr, upstream: 'http://127.0.0.1:5000', tls, auth: { mode: 'htpasswd', htpasswd }, access },
  { prefix: testHost.prefix, host: testHost.address });
cleanups.push(() => gw.stop());
const tokenGw = await startGateway(work, {
  listen: tokenAddr, upstream: 'http://127.0.0.1:5000', tls, access,
  auth: { mode: 'token', htpasswd, token: { service: tokenAddr, signingKey: join(certs, 'token.key') } },
}, { prefix: testHost.prefix, host: testHost.address });
cleanups.push(() => tokenGw.stop());

const image = `${addr}/alice/cri:v1`;
const tokenImage = `${tokenAddr}/alice/cri:v1`;
const policy = await skopeoPolicy(work);
const skopeo = (args: string[]) => exec('skopeo', ['--policy', policy, ...args], { env: { ...process.env, HOME: work, XDG_RUNTIME_DIR: work }, timeoutMs: 300_000 });
const caOnly = join(work, 'ca-only');
await mkdir(caOnly);
await writeFile(join(caOnly, 'ca.crt'), await readFile(join(certs, 'ca.crt')));
{
  const layout = await buildImage(join(work, 'img'), 'v1', [256 * 1024]);
  const push = await skopeo(['copy', '--dest-cert-dir', caOnly, '--dest-creds', 'alice:alice-pw', `oci:${layout}:v1`, `docker://${image}`]);
  assert.equal(push.code, 0, push.stderr);
}
const inspected = await skopeo(['inspect', '--cert-dir', caOnly, '--creds', 'alice:alice-pw', '--format', '{{.Digest}}', `docker://${image}`]);
assert.equal(inspected.code, 0, inspected.stderr);
const manifestDigest = inspected.stdout.trim();

// The machine's own paths the nodes' containerd sees as its node's: none may change.
const hostPaths = ['/var/lib/rancher/k3s/agent/etc/containerd/certs.d', `/etc/containerd/certs.d/${addr}`, '/etc/rancher/k3s/registries.yaml'];
const existedBefore = await Promise.all(hostPaths.map((p) => stat(p).then(() => true, () => false)));

// --- Nodes: a root each, set up with the command the gateway logs.
const CERTS_D = '/etc/containerd/certs.d';
const K3S_DIR = '/var/lib/rancher';
const K3S_CERTS_D = `${K3S_DIR}/k3s/agent/etc/containerd/certs.d`;
interface Node { name: string; root: string; conf: string }
const node = async (name: string): Promise<Node> => {
  const root = join(work, name);
  await mkdir(join(root, 'etc', 'containerd'), { recursive: true });
  return { name, root, conf: join(root, 'etc', 'containerd', 'config.toml') };
};

/** The setup command a gateway logged last (at start, and again at every change of the CA set). */
const setupCommand = (g: GatewayProcess) => (g.entries().filter((e) => Array.isArray(e.commands)).at(-1)!.commands as string[])[0]!;

/** What a user does on a node: the logged one-liner, with install.sh's --root for the node's root. */
async function setUp(n: Node, g: GatewayProcess = gw, runtimes = 'containerd'): Promise<string> {
  const command = setupCommand(g);
  assert.ok(command.includes(`https://${testHost.address}:${g.port}`), command);
  const r = await exec('sh', ['-c', `${command} --root ${n.root} --runtimes ${runtimes}`]);
  assert.equal(r.code, 0, `setup of ${n.name}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

let daemons = 0;
async function boot(n: Node, k3s = false): Promise<CriContainerd> {
  const c = await startCriContainerd({
    nodeRoot: n.root, dir: join(work, `containerd-${daemons++}`), netns: testHost.name,
    ...(k3s ? { nodePaths: [K3S_DIR, '/etc/rancher'], config: `${K3S_DIR}/k3s/agent/etc/containerd/config.toml` } : {}),
  });
  cleanups.push(() => c.stop());
  return c;
}

// --- The imagePullSecrets, as users get them.
/** `gateway bundle` with `--pull-secret USER` (password on standard input): its directory. */
async function makeBundle(user: string, password: string): Promise<string> {
  const out = join(work, `bundle-${user}-${password.length}`);
  const r = await gatewayCli(['bundle', '--host', addr, '--certs', certs, '--out', out, '--pull-secret', user], { input: password });
  assert.equal(r.code, 0, r.stderr);
  return out;
}

/** htpasswd mode: the Secret in that bundle. */
const bundleSecret = async (user: string, password: string) =>
  readFile(join(await makeBundle(user, password), 'kubernetes', 'pull-secret.yaml'), 'utf8');

/** The other way to set up a node: the unpacked bundle's install.sh, with --root for the node's root. */
async function installFromBundle(n: Node): Promise<string> {
  const r = await exec('sh', [join(await makeBundle('alice', 'alice-pw'), 'install.sh'), '--root', n.root, '--runtimes', 'containerd']);
  assert.equal(r.code, 0, `install.sh on ${n.name}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** token mode: the web UI's pull secret for a logged-in user (a pull token, not the password). */
async function uiSecret(user: string): Promise<string> {
  const ca = await readFile(join(certs, 'ca.crt'), 'utf8');
  const origin = `https://${tokenAddr}`;
  const login = await request(`${origin}/ui/api/session`, {
    ca, method: 'POST', headers: { origin, 'content-type': 'application/json' }, body: JSON.stringify({ username: user, password: PASSWORDS[user] }),
  });
  assert.equal(login.status, 200, login.body.toString());
  const cookie = login.headers['set-cookie']![0]!.split(';')[0]!;
  const r = await request(`${origin}/ui/api/pull-secret?namespace=default`, { ca, headers: { cookie } });
  assert.equal(r.status, 200, r.body.toString());
  return r.json().yaml as string;
}

/** The kubelet's AuthConfig for this image from a Secret: exactly one entry here. */
function authFor(secretYaml: string, img: string) {
  const auths = kubeletAuthConfigs(secretYaml, img);
  assert.equal(auths.length, 1, `one matching entry for ${img}`);
  return auths[0]!;
}

/** A pull that must fail: the gRPC error's message. */
async function pullFails(c: CriContainerd, img: string, auth?: ReturnType<typeof authFor>): Promise<string> {
  const err = await c.cri.pullImage(img, auth).then(() => assert.fail(`${img} was pulled`), (e: CriError) => e);
  assert.ok(typeof err.details === 'string', String(err));
  return err.details;
}

/** A pull that must succeed, then what ImageStatus and ListImages say of it. */
async function pullsAndLists(c: CriContainerd, img: string, auth: ReturnType<typeof authFor>): Promise<void> {
  const ref = await c.cri.pullImage(img, auth).catch((e: CriError) => assert.fail(`${e.details}\n${c.log().slice(-4000)}`));
  assert.match(ref, /^sha256:[0-9a-f]{64}$/);
  const status = await c.cri.imageStatus(img);
  assert.ok(status, 'ImageStatus knows the image');
  assert.equal(status.id, ref);
  assert.ok(status.repoTags.includes(img), JSON.stringify(status.repoTags));
  assert.ok(status.repoDigests.includes(`${img.replace(/:v1$/, '')}@${manifestDigest}`), JSON.stringify(status.repoDigests));
  assert.ok(Number(status.size) > 256 * 1024, `size ${status.size}`);
  assert.ok((await c.cri.listImages()).some((i) => i.id === ref && i.repoTags.includes(img)), 'ListImages lists it');
  await c.cri.removeImage(img);
  assert.equal(await c.cri.imageStatus(img), null, 'removed, so the next pull fetches again');
}

const UNKNOWN_AUTHORITY = /x509: certificate signed by unknown authority/;

// --- Node A: config.toml as install.sh prints it for containerd 1.6.
const nodeA = await node('node-a');
let a: CriContainerd | undefined;

test('install.sh form: on a node with no config.toml, the setup command prints one for containerd 1.6; with it, a CRI pull with the bundle\'s htpasswd pull secret succeeds', async () => {
  const out = await setUp(nodeA);
  const said = /containerd: there is no \S*\/etc\/containerd\/config\.toml, and containerd 1\.6 reads no certs\.d[^\n]*\n[^\n]*create it with this[^\n]*\n((?: {4}.*\n|\n)+)/.exec(out);
  assert.ok(said, out);
  const config = said[1]!.split('\n').map((l) => l.replace(/^ {4}/, '')).join('\n').trim() + '\n';
  assert.equal(config, `version = 2\n\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "${CERTS_D}"\n`);
  await writeFile(nodeA.conf, config);
  assert.doesNotMatch(await setUp(nodeA), /containerd:/, 'nothing more to change');
  // What makes the CRI pull below read the CA through hosts.toml (an empty one would fall back to ca.crt: next tests).
  const hostsToml = parseToml(await readFile(join(nodeA.root, CERTS_D, addr, 'hosts.toml'), 'utf8')) as any;
  assert.equal(hostsToml.server, `https://${addr}`);
  assert.equal(hostsToml.host?.[`https://${addr}`]?.ca, 'ca.crt');
  a = await boot(nodeA);
  const secret = await bundleSecret('alice', 'alice-pw');
  const from = gw.entries().length;
  await pullsAndLists(a, image, authFor(secret, image));
  const manifestGet = await gw.waitFor((e) => e.method === 'GET' && String(e.path).includes('/alice/cri/manifests/') && e.status === 200, from, 15_000);
  assert.equal(manifestGet.user, 'alice');
});

test('htpasswd mode: without the secret 401, a wrong password 401, bob\'s secret (no pull on alice/**) 403 with bob in the log', async () => {
  assert.ok(a);
  assert.match(await pullFails(a, image), /401 Unauthorized/);
  assert.match(await pullFails(a, image, authFor(await bundleSecret('alice', 'not-alice-pw'), image)), /401 Unauthorized/);
  const from = gw.entries().length;
  assert.match(await pullFails(a, image, authFor(await bundleSecret('bob', PASSWORDS.bob!), image)), /403 Forbidden/);
  const refused = await gw.waitFor((e) => String(e.path).includes('/alice/cri/') && e.status === 403, from, 15_000);
  assert.equal(refused.user, 'bob');
});

test('token mode: the UI\'s pull secret (a pull token) pulls through the CRI; a wrong token 401; without it, or with bob\'s, 401 insufficient_scope, and the log names bob', async () => {
  assert.ok(a);
  await setUp(nodeA, tokenGw);
  const secret = await uiSecret('alice');
  const auth = authFor(secret, tokenImage);
  assert.equal(auth.username, 'alice');
  assert.notEqual(auth.password, 'alice-pw', 'a pull token, not the password');
  const from = tokenGw.entries().length;
  await pullsAndLists(a, tokenImage, auth);
  // containerd's password grant (POST /token) with the pull token, then the registry calls under alice's bearer token.
  const granted = await tokenGw.waitFor((e) => e.method === 'POST' && e.path === '/token' && e.status === 200, from, 15_000);
  assert.equal(granted.user, 'alice', 'the token line names whom the token was issued to');
  const manifest = await tokenGw.waitFor((e) => String(e.path).includes('/alice/cri/manifests/') && e.status === 200, from, 15_000);
  assert.equal(manifest.user, 'alice');
  // Without a secret containerd takes an anonymous token, which grants nothing: the registry's 401 insufficient_scope.
  const anonFrom = tokenGw.entries().length;
  assert.match(await pullFails(a, tokenImage), /pull access denied.*insufficient_scope/);
  const anon = await tokenGw.waitFor((e) => String(e.path).includes('/alice/cri/manifests/'), anonFrom, 15_000);
  assert.deepEqual([anon.status, anon.user], [401, null]);
  // A pull token that is not one (a Secret edited by hand, or one from before a password change): /token says 401.
  const wrongFrom = tokenGw.entries().length;
  assert.match(await pullFails(a, tokenImage, { username: 'alice', password: `${auth.password!.slice(0, -4)}AAAA` }), /401 Unauthorized/);
  const wrong = await tokenGw.waitFor((e) => e.path === '/token' && e.status === 401, wrongFrom, 15_000);
  assert.equal(wrong.user, null, 'no token, nobody named');
  const bobFrom = tokenGw.entries().length;
  // bob's token grants him no pull on alice/**: the registry's answer to a token without the scope is 401
  // insufficient_scope (distribution's token spec), and the log names bob, whose token it was.
  const bob = await pullFails(a, tokenImage, authFor(await uiSecret('bob'), tokenImage));
  assert.match(bob, /pull access denied.*insufficient_scope/);
  const refused = await tokenGw.waitFor((e) => String(e.path).includes('/alice/cri/manifests/') && e.user !== null, bobFrom, 15_000)
    .catch(() => assert.fail(JSON.stringify(tokenGw.entries().slice(bobFrom))));
  assert.deepEqual([refused.status, refused.user], [401, 'bob'], JSON.stringify(tokenGw.entries().slice(bobFrom)));
  const bobToken = tokenGw.entries().slice(bobFrom).find((e) => e.path === '/token' && e.status === 200);
  assert.equal(bobToken?.user, 'bob', 'a token for bob, granting nothing on alice/**');
});

test('the trust is what the setup command installed, and only through config_path: an empty hosts.toml falls back to the ca.crt beside it; without that ca.crt, or without config_path, x509', async () => {
  assert.ok(a);
  const auth = authFor(await bundleSecret('alice', 'alice-pw'), image);
  const dir = join(nodeA.root, CERTS_D, addr);
  const hostsToml = await readFile(join(dir, 'hosts.toml'), 'utf8');
  const ca = await readFile(join(dir, 'ca.crt'));
  // An empty hosts.toml (what the [::1] case bug wrote): containerd 1.6 then
  // reads the directory as Docker's certs.d layout, so the ca.crt beside it
  // still carries the trust...
  await writeFile(join(dir, 'hosts.toml'), '');
  await pullsAndLists(a, image, auth);
  // ...and with neither, the pull fails.
  await rm(join(dir, 'ca.crt'));
  assert.match(await pullFails(a, image, auth), UNKNOWN_AUTHORITY);
  // A hosts.toml that is there is what counts: naming another file, the ca.crt beside it is not used.
  await writeFile(join(dir, 'ca.crt'), ca);
  await writeFile(join(dir, 'hosts.toml'), hostsToml.replace('ca = "ca.crt"', 'ca = "other.crt"'));
  assert.notEqual(await readFile(join(dir, 'hosts.toml'), 'utf8'), hostsToml);
  assert.match(await pullFails(a, image, auth), /other\.crt/);
  await rm(join(dir, 'ca.crt'));
  // hosts.toml as installed but no ca.crt: the file it names is missing.
  await writeFile(join(dir, 'hosts.toml'), hostsToml);
  const noCa = await pullFails(a, image, auth);
  assert.match(noCa, /ca\.crt|no such file/, noCa);
  await writeFile(join(dir, 'ca.crt'), ca);
  await pullsAndLists(a, image, auth);
  // config.toml without config_path: the same files, ignored by the CRI plugin (a restart reads config.toml).
  await a.stop();
  const withPath = await readFile(nodeA.conf, 'utf8');
  await writeFile(nodeA.conf, 'version = 2\n');
  a = await boot(nodeA);
  assert.match(await pullFails(a, image, auth), UNKNOWN_AUTHORITY);
  await a.stop();
  await writeFile(nodeA.conf, withPath);
  a = await boot(nodeA);
  await pullsAndLists(a, image, auth);
});

test('`containerd config default`, patched as the README says (config_path = "" names /etc/containerd/certs.d), set up by the unpacked bundle\'s install.sh: off before, pulls after; a node never set up fails with x509', async () => {
  const b = await node('node-b');
  const defaults = await containerdDefaultConfig();
  await writeFile(b.conf, defaults);
  const out = await installFromBundle(b);
  assert.equal(await readFile(b.conf, 'utf8'), defaults, 'config.toml is never edited');
  const said = /line (\d+) has config_path = "", which turns certs\.d off[^\n]*\n[^\n]*change that line to this[^\n]*\n\s*(config_path = "[^"]*")/.exec(out);
  assert.ok(said, out);
  const lines = defaults.split('\n');
  const lineNo = Number(said[1]);
  assert.equal(lines[lineNo - 1]!.trim(), 'config_path = ""', 'the line named is the one that turns it off');
  assert.equal(said[2], `config_path = "${CERTS_D}"`);
  const auth = authFor(await bundleSecret('alice', 'alice-pw'), image);
  let c = await boot(b);
  assert.match(await pullFails(c, image, auth), UNKNOWN_AUTHORITY, 'as found: certs.d installed, but off');
  await c.stop();
  // The README: the default config's config_path = "" must name /etc/containerd/certs.d; restart containerd once.
  lines[lineNo - 1] = lines[lineNo - 1]!.replace('config_path = ""', `config_path = "${CERTS_D}"`);
  await writeFile(b.conf, lines.join('\n'));
  assert.doesNotMatch(await installFromBundle(b), /containerd:/, 'nothing more to change');
  c = await boot(b);
  await pullsAndLists(c, image, auth);
  await c.stop();
  // A node with the same config that never ran the setup command.
  const bare = await node('node-bare');
  await writeFile(bare.conf, lines.join('\n'));
  c = await boot(bare);
  assert.match(await pullFails(c, image, auth), UNKNOWN_AUTHORITY);
  await c.stop();
});

/** The DaemonSet's container command from a bundle made with these --daemonset-for targets, run once on a node root as the Pod would. */
async function runDaemonSet(n: Node, targets: string): Promise<void> {
  const out = join(work, `bundle-ds-${n.name}`);
  const made = await gatewayCli(['bundle', '--host', addr, '--certs', certs, '--out', out,
    '--daemonset-image', `${addr}/library/busybox:1.36`, '--daemonset-for', targets]);
  assert.equal(made.code, 0, made.stderr);
  const docs = parseAllDocuments(await readFile(join(out, 'kubernetes', 'registry-trust.yaml'), 'utf8')).map((d) => d.toJS() as Record<string, any>);
  const cm = docs.find((d) => d.kind === 'ConfigMap' && d.data && Object.keys(d.data).some((k) => k.endsWith('.hosts.toml')))!;
  const container = docs.find((d) => d.kind === 'DaemonSet')!.spec.template.spec.containers[0];
  // The Pod's mounts, moved under the test: /host is the node root, /trust the ConfigMap, /run/state an emptyDir.
  const trust = join(work, `ds-trust-${n.name}`);
  const state = join(work, `ds-state-${n.name}`);
  await mkdir(trust);
  await mkdir(state);
  for (const [k, v] of Object.entries(cm.data as Record<string, string>)) await writeFile(join(trust, k), v);
  const [shell, flag, script] = container.command as string[];
  assert.deepEqual([shell, flag], ['sh', '-c']);
  const once = script!.replaceAll('/host/', `${n.root}/`).replaceAll('/trust/', `${trust}/`).replaceAll('/run/state/', `${state}/`)
    .replace('  sleep 60', '  break');
  assert.notEqual(once.indexOf('  break'), -1, 'one pass of the loop');
  const r = await exec('sh', ['-c', once]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok((await stat(join(state, 'ready'))).isFile(), `Ready: ${r.stdout}`);
}

test('the DaemonSet\'s container command, run on a node root as the Pod would: a plain containerd node (default config, config_path set) pulls through the CRI', async () => {
  const c = await node('node-ds');
  await writeFile(c.conf, (await containerdDefaultConfig()).replace('config_path = ""', `config_path = "${CERTS_D}"`));
  await runDaemonSet(c, 'containerd');
  assert.ok((await stat(join(c.root, CERTS_D, addr, 'hosts.toml'))).size > 0);
  const daemon = await boot(c);
  await pullsAndLists(daemon, image, authFor(await bundleSecret('alice', 'alice-pw'), image));
  await daemon.stop();
});

/** A k3s node's root with k3s's containerd config.toml (what matters of k3s's containerd 1.6 template). */
async function k3sNode(name: string): Promise<Node> {
  const k = await node(name);
  const agent = join(k.root, K3S_DIR, 'k3s', 'agent', 'etc', 'containerd');
  await mkdir(agent, { recursive: true });
  await mkdir(join(k.root, 'etc', 'rancher', 'k3s'), { recursive: true });
  // Version 2, its opt path, and config_path = the certs.d k3s generates (pkg/agent/templates).
  await writeFile(join(agent, 'config.toml'), [
    'version = 2', '', '[plugins."io.containerd.internal.v1.opt"]', `  path = "${K3S_DIR}/k3s/agent/containerd"`, '',
    '[plugins."io.containerd.grpc.v1.cri".registry]', `  config_path = "${K3S_CERTS_D}"`, '',
  ].join('\n'));
  return k;
}

test('the DaemonSet with --daemonset-for k3s, on a k3s node: containerd on k3s\'s config.toml (config_path = its generated certs.d) pulls through the CRI', async () => {
  const k = await k3sNode('node-k3s');
  const auth = authFor(await bundleSecret('alice', 'alice-pw'), image);
  let daemon = await boot(k, true);
  assert.match(await pullFails(daemon, image, auth), UNKNOWN_AUTHORITY, 'before the DaemonSet ran');
  await daemon.stop();
  await runDaemonSet(k, 'k3s');
  assert.ok((await stat(join(k.root, K3S_CERTS_D, addr, 'hosts.toml'))).size > 0);
  daemon = await boot(k, true);
  await pullsAndLists(daemon, image, auth);
  await daemon.stop();
});

test('k3s: the registries.yaml the setup command installed (--runtimes k3s), made into hosts.toml as k3s does at start, pulls through the CRI', async () => {
  const k = await k3sNode('node-k3s-registries');
  await setUp(k, gw, 'k3s');
  const registries = parseYaml(await readFile(join(k.root, 'etc', 'rancher', 'k3s', 'registries.yaml'), 'utf8')) as {
    mirrors: Record<string, { endpoint: string[] }>; configs: Record<string, { tls?: { ca_file?: string } }>;
  };
  const endpoints = registries.mirrors[addr]?.endpoint ?? assert.fail(`a mirror for ${addr}: ${JSON.stringify(registries)}`);
  // What k3s writes for it (pkg/agent/containerd/config.go, templates.HostsTomlTemplate of the containerd 1.6 era):
  // server = the registry; per endpoint (scheme https unless given, path /v2) a host with the tls of the
  // endpoint host's configs entry. The CA file it names is an absolute path on the node.
  const hosts = endpoints.map((e) => {
    const u = new URL(/^[a-z]+:\/\//.test(e) ? e : `https://${e}`);
    const caFile = registries.configs[u.host]?.tls?.ca_file;
    assert.ok(caFile?.startsWith('/etc/rancher/k3s/'), `ca_file for ${u.host}: ${caFile}`);
    return `[host."${u.protocol}//${u.host}/v2"]\n  capabilities = ["pull", "resolve"]\n  ca = [${JSON.stringify(caFile)}]\n`;
  });
  const dir = join(k.root, K3S_CERTS_D, addr);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'hosts.toml'), `# File generated by k3s. DO NOT EDIT.\nserver = "https://${addr}"\n\n${hosts.join('\n')}`);
  const auth = authFor(await bundleSecret('alice', 'alice-pw'), image);
  const daemon = await boot(k, true);
  await pullsAndLists(daemon, image, auth);
  // The trust is the installed CA file: without it, x509.
  await rm(join(k.root, registries.configs[addr]!.tls!.ca_file!));
  assert.match(await pullFails(daemon, image, auth), /ca\.crt|no such file/);
  await daemon.stop();
});

// --- Last, as it changes the CA under both gateways.
test('CA rollover: a node that re-ran the setup command after start keeps pulling through the CRI across switch and finish; one that did not fails at switch', async () => {
  assert.ok(a);
  const auth = authFor(await bundleSecret('alice', 'alice-pw'), image);
  const stale = await node('node-stale');
  await writeFile(stale.conf, await readFile(nodeA.conf, 'utf8'));
  await setUp(stale);
  const s = await boot(stale);
  await rolloverStep(gw, certs, 'start');
  await setUp(nodeA);
  const caA = await readFile(join(nodeA.root, CERTS_D, addr, 'ca.crt'), 'utf8');
  assert.equal(caA.match(/BEGIN CERTIFICATE/g)?.length, 2, 'both CAs after start');
  await pullsAndLists(a, image, auth);
  await pullsAndLists(s, image, auth);
  await rolloverStep(gw, certs, 'switch');
  await pullsAndLists(a, image, auth);
  assert.match(await pullFails(s, image, auth), UNKNOWN_AUTHORITY);
  await rolloverStep(gw, certs, 'finish');
  await pullsAndLists(a, image, auth);
  await s.stop();
});

test('nothing reached the machine\'s own /etc, /opt or /var/lib', async () => {
  const existsNow = await Promise.all(hostPaths.map((p) => stat(p).then(() => true, () => false)));
  assert.deepEqual(existsNow, existedBefore, `written only under the node roots: ${hostPaths.join(' ')}`);
});
