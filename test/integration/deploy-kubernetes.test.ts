// deploy/kubernetes and `gateway deploy kubernetes`, proven without a cluster:
// kubectl's kustomize renders every overlay and every output of the command;
// each object validates against the Kubernetes schemas (kubernetes-models),
// and has no field the API does not know (TypeScript's excess-property check
// against the same package's types); selectors are checked against the pod
// labels they are meant to select. Then the Pod is run here: the rendered
// ConfigMap and Secret files placed at the paths the rendered Deployment
// mounts them, as the kubelet lays them out (..data symlinks), the rendered
// command run as the rendered user with a read-only root, in a network
// namespace where the Service names resolve to a real docker-registry and
// redis-server started from the rendered Deployments; it serves, skopeo
// pushes through it, and Secret updates swapped in as the kubelet does are
// picked up without a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { chmod, chown, copyFile, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { connect } from 'node:tls';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { cleanupList, onExit } from '../helpers/cleanup.js';
import { exec, gateway as gatewayCli, ROOT } from '../helpers/exec.js';
import { request } from '../helpers/https.js';
import { createTestHost } from '../helpers/netns.js';
import { buildImage, skopeoPolicy } from '../helpers/oci.js';
import { startRegistry, waitForPort } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';

type Obj = Record<string, any>;
const cleanups = cleanupList();
const work = await tempDir();
const NS = 'registry-gateway';
const SERVICE_NAME = `registry-gateway.${NS}.svc.cluster.local`;
const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const host = await createTestHost();
cleanups.push(() => host.remove());
const ADDRESS = `${host.address}:5443`;

// What a user has before deploying: the example config, `gateway certs init`, `gateway users add`.
await mkdir(join(work, 'config'));
await copyFile(join(ROOT, 'config/gateway.yaml'), join(work, 'config/gateway.yaml'));
const cli = async (args: string[], input?: string) => {
  const r = await gatewayCli(args, { cwd: work, ...(input !== undefined ? { input } : {}) });
  assert.equal(r.code, 0, `gateway ${args.join(' ')}: ${r.stderr}`);
  return r;
};
await cli(['certs', 'init', '--host', host.address, '--host', SERVICE_NAME]);
await cli(['users', 'add', 'alice', '--password-stdin', '--cost', '4'], 'alice-pw');

// Components and patch targets need kustomize 4 or later (kubectl 1.21+); Debian's
// kubernetes-client package (1.20) is older, so it is not what this test installs.
const kubectlVersion = await exec('kubectl', ['version', '--client']);
assert.match(kubectlVersion.stdout, /Kustomize Version: v([4-9]|\d{2,})\./,
  `kubectl with kustomize 4 or later is needed (this machine's image has one): ${kubectlVersion.stdout}${kubectlVersion.stderr}`);

async function kustomize(dir: string): Promise<Obj[]> {
  const r = await exec('kubectl', ['kustomize', dir]);
  assert.equal(r.code, 0, `kubectl kustomize ${dir}: ${r.stderr}`);
  return parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj);
}

async function deploy(name: string, args: string[] = []): Promise<{ dir: string; docs: Obj[]; stdout: string; stderr: string }> {
  const dir = join(work, name);
  const r = await gatewayCli(['deploy', 'kubernetes', '--out', dir, ...args], { cwd: work });
  assert.equal(r.code, 0, r.stderr);
  return { dir, docs: await kustomize(dir), stdout: r.stdout, stderr: r.stderr };
}

const withRegistry = await deploy('with-registry');
const existing = await deploy('existing-registry', ['--overlay', 'existing-registry', '--upstream', 'http://registry.infra.svc.cluster.local:5000',
  '--registry-selector', 'app=docker-registry,release=reg', '--namespace', 'infra']);
const single = await deploy('single', ['--single', '--servicemonitor']);
await writeFile(join(work, 'token.yaml'), `publicUrl: https://${ADDRESS}\nauth:\n  mode: token\n`);
const token = await deploy('token', ['--config', 'token.yaml', '--with-token-key']);
const variants = { withRegistry, existing, single, token };

const find = (docs: Obj[], kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata.name === name);
const get = (docs: Obj[], kind: string, name: string): Obj => find(docs, kind, name) ?? assert.fail(`no ${kind} ${name} rendered`);
const gatewayOf = (docs: Obj[]) => get(docs, 'Deployment', 'registry-gateway');
const configOf = (docs: Obj[]): Obj => {
  const volume = gatewayOf(docs).spec.template.spec.volumes.find((v: Obj) => v.name === 'config');
  return parse(get(docs, 'ConfigMap', volume.configMap.name).data['gateway.yaml']);
};

// --- schemas --------------------------------------------------------------

const MODELS: Record<string, new (o: any) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap, 'v1/Secret': Secret, 'v1/Service': Service, 'v1/Namespace': Namespace,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim, 'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget, 'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
};
// The same package's TypeScript interfaces: tsc refuses a field they do not declare.
const TYPES: Record<string, [string, string]> = {
  'v1/ConfigMap': ['v1/ConfigMap', 'IConfigMap'], 'v1/Secret': ['v1/Secret', 'ISecret'], 'v1/Service': ['v1/Service', 'IService'],
  'v1/Namespace': ['v1/Namespace', 'INamespace'], 'v1/PersistentVolumeClaim': ['v1/PersistentVolumeClaim', 'IPersistentVolumeClaim'],
  'apps/v1/Deployment': ['apps/v1/Deployment', 'IDeployment'], 'policy/v1/PodDisruptionBudget': ['policy/v1/PodDisruptionBudget', 'IPodDisruptionBudget'],
  'networking.k8s.io/v1/NetworkPolicy': ['networking.k8s.io/v1/NetworkPolicy', 'INetworkPolicy'],
};
const typeKey = (o: Obj) => `${o.apiVersion}/${o.kind}`;

/** The Prometheus Operator's CRD is not in kubernetes-models: its shape, checked by hand. */
function validateServiceMonitor(o: Obj): void {
  assert.equal(o.apiVersion, 'monitoring.coreos.com/v1');
  assert.equal(typeof o.metadata?.name, 'string');
  assert.deepEqual(Object.keys(o.spec).sort(), ['endpoints', 'selector']);
  assert.equal(typeof o.spec.selector.matchLabels, 'object');
  for (const e of o.spec.endpoints) {
    assert.deepEqual(Object.keys(e).filter((k) => !['port', 'path', 'scheme', 'interval'].includes(k)), []);
    assert.equal(typeof e.port, 'string');
    assert.ok(['http', 'https'].includes(e.scheme));
    assert.match(e.interval, /^\d+[smh]$/);
  }
}

// kustomize wraps long base64 values over lines; the API server's decoder (Go's
// encoding/base64) skips newlines, the schema's "byte" pattern does not.
const unwrapped = (o: Obj): Obj => (o.kind === 'Secret'
  ? { ...o, data: Object.fromEntries(Object.entries(o.data ?? {}).map(([k, v]) => [k, String(v).replace(/\n/g, '')])) }
  : o);

/** The same for its PrometheusRule (test/integration/alerts.test.ts runs promtool on the rules). */
function validatePrometheusRule(o: Obj): void {
  assert.equal(o.apiVersion, 'monitoring.coreos.com/v1');
  assert.deepEqual(Object.keys(o.spec), ['groups']);
  for (const g of o.spec.groups) {
    assert.equal(typeof g.name, 'string');
    for (const r of g.rules) assert.deepEqual(Object.keys(r).filter((k) => !['alert', 'expr', 'for', 'labels', 'annotations'].includes(k)), []);
  }
}

function validateAll(docs: Obj[], where: string): string[] {
  return docs.map((o) => {
    if (o.kind === 'ServiceMonitor') validateServiceMonitor(o);
    else if (o.kind === 'PrometheusRule') validatePrometheusRule(o);
    else {
      const Model = MODELS[typeKey(o)] ?? assert.fail(`${where}: no schema for ${typeKey(o)}`);
      assert.doesNotThrow(() => new Model(unwrapped(o)).validate(), `${where}: ${o.kind} ${o.metadata?.name}`);
    }
    return o.kind as string;
  });
}

/** tsc over every object, one per line: the error lines say which objects have fields the API does not know. */
async function unknownFields(docs: Obj[]): Promise<{ code: number; output: string; lineOf: (i: number) => number }> {
  const dir = await tempDir('gw-k8s-types-');
  const used = [...new Set(docs.filter((o) => TYPES[typeKey(o)]).map(typeKey))];
  const lines = used.map((k) => `import type { ${TYPES[k]![1]} } from ${JSON.stringify(join(ROOT, 'node_modules/kubernetes-models', `${TYPES[k]![0]}.js`))};`);
  const first = lines.length + 1;
  docs.forEach((o, i) => lines.push(TYPES[typeKey(o)] ? `export const o${i}: ${TYPES[typeKey(o)]![1]} = ${JSON.stringify(o)};` : '// (no type)'));
  await writeFile(join(dir, 'objects.ts'), `${lines.join('\n')}\n`);
  const r = await exec(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '--strict', '--target', 'es2022',
    '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', '--typeRoots', join(ROOT, 'node_modules/@types'), join(dir, 'objects.ts')]);
  return { code: r.code, output: r.stdout + r.stderr, lineOf: (i) => first + i };
}

// --- the Pod, started before any test: every setup step is done before the runner starts them ---

/** Lays a volume out as the kubelet does: files in a timestamped directory, ..data pointing at it, a symlink per key. */
async function project(dir: string, files: readonly { key: string; content: Buffer; mode: number }[], fsGroup: number | undefined): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const ts = `..${new Date().toISOString().replace(/[-:.TZ]/g, '_')}${randomBytes(4).toString('hex')}`;
  await mkdir(join(dir, ts), { mode: 0o755 });
  for (const f of files) {
    const path = join(dir, ts, f.key);
    await writeFile(path, f.content);
    // With fsGroup the kubelet gives the group read (read-only volumes: mode | 0440) and chowns to it.
    await chown(path, 0, fsGroup ?? 0);
    await chmod(path, fsGroup === undefined ? f.mode : f.mode | 0o440);
  }
  const previous = await readlink(join(dir, '..data')).catch(() => undefined);
  await symlink(ts, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data')); // the atomic swap
  const keys = new Set(files.map((f) => f.key));
  for (const key of keys) if (!(await lstat(join(dir, key)).catch(() => undefined))) await symlink(join('..data', key), join(dir, key));
  for (const name of await readdir(dir)) if (!name.startsWith('..') && !keys.has(name)) await unlink(join(dir, name));
  if (previous) await rm(join(dir, previous), { recursive: true, force: true });
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
/** The image's paths on this machine: /app is the checkout, its node is this node. */
const inImage = (p: string) => (p === '/usr/local/bin/node' ? process.execPath : p.startsWith('/app/') ? join(ROOT, p.slice('/app/'.length)) : p);

// Files that non-root processes read directly (not through a bind mount) live where every user may traverse.
const shared = await mkdtemp('/tmp/gw-deploy-pod-');
await chmod(shared, 0o755);
onExit(() => rmSync(shared, { recursive: true, force: true }));
cleanups.push(() => rm(shared, { recursive: true, force: true }));

const docs = withRegistry.docs;
const podConfig = configOf(docs);
const volumesDir = join(work, 'volumes');
const mounted = mountedVolumes(docs, gatewayOf(docs));
const fsGroup: number | undefined = gatewayOf(docs).spec.template.spec.securityContext.fsGroup;
for (const m of mounted) await project(join(volumesDir, m.name), m.files ?? [], fsGroup);

/** A container of a rendered Deployment, run in the test namespace as its securityContext says. */
function asUser(pod: Obj, container: Obj): string[] {
  const uid = container.securityContext?.runAsUser ?? pod.securityContext.runAsUser;
  const gid = container.securityContext?.runAsGroup ?? pod.securityContext.runAsGroup;
  if (pod.securityContext.runAsNonRoot) assert.notEqual(uid, 0);
  const groups = [pod.securityContext.fsGroup, ...(pod.securityContext.supplementalGroups ?? [])].filter((g) => g !== undefined);
  return ['setpriv', '--reuid', String(uid), '--regid', String(gid), ...(groups.length ? ['--groups', groups.join(',')] : ['--clear-groups']),
    ...(container.securityContext?.allowPrivilegeEscalation === false ? ['--no-new-privs'] : []),
    ...(container.securityContext?.capabilities?.drop?.includes('ALL') ? ['--inh-caps=-all', '--bounding-set=-all'] : []),
    '--pdeathsig', 'KILL'];
}
// The downward API's pod IP is the test host's address; a Secret reference is the caller's to resolve.
const plainEnv = (container: Obj, resolve: (ref: Obj) => string = () => assert.fail('valueFrom')) =>
  (container.env ?? []).map((e: Obj) => `${e.name}=${e.value
    ?? (e.valueFrom.fieldRef?.fieldPath === 'status.podIP' ? host.address : resolve(e.valueFrom.secretKeyRef))}`);

// The registry of with-registry: its rendered env and user, with registry:2's own config.yml.
const regPod = get(docs, 'Deployment', 'registry').spec.template.spec;
const regContainer = regPod.containers[0];
assert.equal(regContainer.volumeMounts.find((m: Obj) => m.name === 'data').mountPath, '/var/lib/registry', 'registry:2 keeps its images there');
const upstreamOf = (config: Obj): string => (typeof config.upstream === 'string' ? config.upstream : config.upstream.url);
const upstream = new URL(upstreamOf(podConfig));
assert.equal(regContainer.ports[0].containerPort, Number(upstream.port));
const storage = join(shared, 'registry');
await mkdir(storage);
await chown(storage, regPod.securityContext.runAsUser, regPod.securityContext.fsGroup);
const registryYml = join(shared, 'registry-config.yml');
// registry:2's /etc/docker/registry/config.yml, its data volume moved to this test's directory.
await writeFile(registryYml, JSON.stringify({
  version: 0.1, log: { fields: { service: 'registry' } }, storage: { cache: { blobdescriptor: 'inmemory' }, filesystem: { rootdirectory: storage } },
  http: { addr: `:${upstream.port}`, headers: { 'X-Content-Type-Options': ['nosniff'] } },
}));
const secretValue = (ref: Obj) => Buffer.from(get(docs, 'Secret', ref.name).data[ref.key], 'base64').toString();
// Its Secret volumes (the htpasswd of the gateway's credential) placed here; a variable naming a file in one points here too.
const regMounts = new Map<string, string>();
for (const m of regContainer.volumeMounts.filter((x: Obj) => x.name !== 'data')) {
  const v = regPod.volumes.find((x: Obj) => x.name === m.name);
  const dir = join(shared, `registry-${m.name}`);
  await mkdir(dir);
  for (const [key, value] of Object.entries(get(docs, 'Secret', v.secret.secretName).data as Record<string, string>)) {
    await writeFile(join(dir, key), Buffer.from(value, 'base64'), { mode: v.secret.defaultMode ?? 0o644 });
    await chown(join(dir, key), 0, regPod.securityContext.fsGroup);
  }
  regMounts.set(m.mountPath, dir);
}
const regEnv = plainEnv(regContainer, secretValue).map((e: string) => {
  const [name, value] = [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)];
  const mount = [...regMounts.keys()].find((p) => value.startsWith(`${p}/`));
  return mount ? `${name}=${regMounts.get(mount)}${value.slice(mount.length)}` : e;
});
const registry = await startRegistry(work, {
  storage, port: Number(upstream.port), configPath: registryYml,
  prefix: [...host.prefix, 'env', ...regEnv, ...asUser(regPod, regContainer)],
});
cleanups.push(() => registry.stop());

// Redis: the rendered command and args, its emptyDir moved here.
const redisPod = get(docs, 'Deployment', 'registry-gateway-redis').spec.template.spec;
const redisContainer = redisPod.containers[0];
const redisData = join(shared, 'redis-data');
await mkdir(redisData);
await chmod(redisData, 0o777); // an emptyDir
const dataMount = redisContainer.volumeMounts[0].mountPath as string;
// $(NAME) in args is the container's variable, as the kubelet expands it (the password, from its Secret).
const redisEnv = new Map<string, string>(plainEnv(redisContainer, secretValue).map((e: string) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
const redisArgs = [...redisContainer.command, ...redisContainer.args]
  .map((a: string) => (a === dataMount ? redisData : a.replace(/\$\(([A-Z_]+)\)/g, (_m, name: string) => redisEnv.get(name) ?? assert.fail(`no ${name}`))));
const redis = spawn(host.prefix[0]!, [...host.prefix.slice(1), ...asUser(redisPod, redisContainer), ...redisArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
let redisLog = '';
redis.stdout!.on('data', (d) => (redisLog += d));
redis.stderr!.on('data', (d) => (redisLog += d));
onExit(() => redis.kill('SIGKILL'));
cleanups.push(async () => { redis.kill('SIGTERM'); });
await waitForPort(Number(new URL(podConfig.redis.url).port), host.address).catch((err) => assert.fail(`${err}: ${redisLog}`));

// The gateway: the rendered command and args, the rendered files at the mount paths, the Service names resolving to loopback.
const gwPod = gatewayOf(docs).spec.template.spec;
const gwContainer = gwPod.containers[0];
const mountRoot = await tempDir('gw-deploy-mnt-');
const hostsFile = join(work, 'hosts');
await writeFile(hostsFile, `127.0.0.1 localhost ${upstream.hostname} ${new URL(podConfig.redis.url).hostname}\n::1 localhost\n`);
const script = [
  'set -e',
  // /etc stays this machine's: an overlay in this mount namespace only, its upper layer on a tmpfs.
  `mount -t tmpfs -o mode=0755 tmpfs ${quote(mountRoot)}`,
  `mkdir ${quote(`${mountRoot}/upper`)} ${quote(`${mountRoot}/work`)}`,
  `mount -t overlay overlay -o lowerdir=/etc,upperdir=${quote(`${mountRoot}/upper`)},workdir=${quote(`${mountRoot}/work`)} /etc`,
  `cp ${quote(hostsFile)} /etc/hosts`,
  ...mounted.flatMap((m) => [
    `mkdir -p ${quote(m.mountPath)}`,
    `mount --bind ${quote(join(volumesDir, m.name))} ${quote(m.mountPath)}`,
    ...(m.readOnly ? [`mount -o remount,bind,ro ${quote(m.mountPath)}`] : []),
  ]),
  ...(gwContainer.securityContext.readOnlyRootFilesystem ? ['mount -o remount,bind,ro /etc', 'mount -o remount,bind,ro /'] : []),
  `cd ${quote(inImage(gwContainer.workingDir ?? '/app/'))}`,
  `exec env -i PATH=/usr/bin:/bin NODE_ENV=production ${plainEnv(gwContainer).map(quote).join(' ')} ` +
    `${asUser(gwPod, gwContainer).map(quote).join(' ')} ${[...gwContainer.command.map(inImage), ...gwContainer.args].map(quote).join(' ')}`,
].join('\n');
const pod = spawn(host.prefix[0]!, [...host.prefix.slice(1), 'unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
let podLog = '';
pod.stdout!.on('data', (d) => (podLog += d));
pod.stderr!.on('data', (d) => (podLog += d));
const podExit = new Promise<number | null>((resolve) => pod.once('exit', (code) => resolve(code)));
onExit(() => pod.kill('SIGKILL'));
cleanups.push(async () => { pod.kill('SIGKILL'); await podExit; });
await new Promise<void>((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`the Pod's gateway did not start: ${podLog}`)), 20_000);
  const check = () => { if (podLog.includes('"msg":"gateway started"')) { clearTimeout(timer); resolve(); } };
  pod.stdout!.on('data', check);
  void podExit.then((code) => { clearTimeout(timer); reject(new Error(`the Pod's gateway exited with ${code}: ${podLog}`)); });
});
const ca = await readFile(join(work, 'certs/ca.crt'), 'utf8');
const trusted = join(work, 'trusted');
await mkdir(trusted);
await copyFile(join(work, 'certs/ca.crt'), join(trusted, 'ca.crt'));
const policy = await skopeoPolicy(work);
const skopeo = (args: string[]) => exec('skopeo', ['--policy', policy, ...args], { env: { ...process.env, HOME: work, XDG_RUNTIME_DIR: work }, timeoutMs: 120_000 });

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms\n${podLog.split('\n').slice(-15).join('\n')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test('the shipped base and overlays render alone, and every object validates', async () => {
  for (const dir of ['base', 'overlays/with-registry', 'overlays/existing-registry']) {
    const docs = await kustomize(join(ROOT, 'deploy/kubernetes', dir));
    validateAll(docs, dir);
    assert.ok(gatewayOf(docs), dir);
  }
});

test('every output of the command renders and validates: with-registry, existing-registry, single with a ServiceMonitor, token mode', async () => {
  assert.deepEqual(validateAll(withRegistry.docs, 'with-registry').sort(), [
    'ConfigMap', 'Deployment', 'Deployment', 'Deployment', 'Namespace', 'NetworkPolicy', 'NetworkPolicy', 'NetworkPolicy', 'NetworkPolicy',
    'PersistentVolumeClaim', 'PodDisruptionBudget', 'Secret', 'Secret', 'Secret', 'Secret', 'Secret', 'Secret', 'Service', 'Service', 'Service']);
  assert.deepEqual(validateAll(existing.docs, 'existing-registry').sort(), [
    'ConfigMap', 'Deployment', 'Deployment', 'Namespace', 'NetworkPolicy', 'NetworkPolicy', 'NetworkPolicy', 'NetworkPolicy',
    'PodDisruptionBudget', 'Secret', 'Secret', 'Secret', 'Service', 'Service']);
  assert.deepEqual(validateAll(single.docs, 'single').sort(), [
    'ConfigMap', 'Deployment', 'Deployment', 'Namespace', 'NetworkPolicy', 'NetworkPolicy', 'NetworkPolicy', 'PersistentVolumeClaim',
    'PodDisruptionBudget', 'PrometheusRule', 'Secret', 'Secret', 'Secret', 'Secret', 'Secret', 'Service', 'Service', 'ServiceMonitor']);
  validateAll(token.docs, 'token');
  // With one misspelt copy (the control: the check fails where it should, and only there).
  const all = Object.values(variants).flatMap((v) => v.docs);
  const misspelt = structuredClone(gatewayOf(withRegistry.docs));
  misspelt.spec.template.spec.securityContext.runAsNonroot = true;
  const strict = await unknownFields([...all, misspelt]);
  const errors = strict.output.split('\n').filter((l) => /error TS/.test(l));
  assert.equal(errors.length, 1, `a field the Kubernetes API does not know:\n${strict.output}`);
  assert.match(errors[0]!, new RegExp(`objects\\.ts\\(${strict.lineOf(all.length)},\\d+\\).*runAsNonroot.* does not exist in type 'IPodSecurityContext'`));
});

test('the checks can fail: a wrong type fails the schema, a typo in a label fails the selector check', () => {
  const broken = structuredClone(gatewayOf(withRegistry.docs));
  broken.spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem = 'yes';
  assert.throws(() => new Deployment(broken).validate(), /readOnlyRootFilesystem must be boolean/);
  const typo = structuredClone(withRegistry.docs);
  get(typo, 'NetworkPolicy', 'registry').spec.ingress[0].from[0].podSelector.matchLabels['app.kubernetes.io/name'] = 'registry-gatway';
  assert.throws(() => checkSelectors(typo), /from.*selects/);
});

// --- what the objects say -------------------------------------------------

function matches(selector: Obj, labels: Record<string, string>): boolean {
  const byLabels = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpressions = (selector.matchExpressions ?? []).every((e: Obj) => ({
    In: () => e.values.includes(labels[e.key]), NotIn: () => !e.values.includes(labels[e.key]),
    Exists: () => e.key in labels, DoesNotExist: () => !(e.key in labels),
  } as Record<string, () => boolean>)[e.operator]!());
  return byLabels && byExpressions;
}

/** Which Deployments' pods a selector picks, by name. */
const picks = (docs: Obj[], selector: Obj) => docs.filter((d) => d.kind === 'Deployment' && matches(selector, d.spec.template.metadata.labels)).map((d) => d.metadata.name as string);

function checkSelectors(docs: Obj[]): void {
  for (const d of docs.filter((o) => o.kind === 'Deployment')) {
    assert.deepEqual(picks(docs, d.spec.selector), [d.metadata.name], `${d.metadata.name}: its selector picks its own pods only`);
    for (const t of d.spec.template.spec.topologySpreadConstraints ?? []) assert.deepEqual(picks(docs, t.labelSelector), [d.metadata.name]);
  }
  const intended: Record<string, string> = {
    'registry-gateway': 'registry-gateway', 'registry-gateway-redis': 'registry-gateway-redis', registry: 'registry',
    'registry-gateway-egress': 'registry-gateway', 'registry-gateway-public': 'registry-gateway',
  };
  for (const s of docs.filter((o) => o.kind === 'Service')) {
    assert.deepEqual(picks(docs, { matchLabels: s.spec.selector }), [intended[s.metadata.name]], `Service ${s.metadata.name}`);
    const ports = get(docs, 'Deployment', intended[s.metadata.name]!).spec.template.spec.containers[0].ports.map((p: Obj) => p.name);
    for (const p of s.spec.ports) assert.ok(ports.includes(p.targetPort), `Service ${s.metadata.name}: targetPort ${p.targetPort} is a container port`);
  }
  for (const p of docs.filter((o) => o.kind === 'PodDisruptionBudget')) assert.deepEqual(picks(docs, p.spec.selector), ['registry-gateway']);
  for (const n of docs.filter((o) => o.kind === 'NetworkPolicy')) {
    const guarded = picks(docs, n.spec.podSelector);
    if (n.metadata.name !== 'registry' || find(docs, 'Deployment', 'registry')) {
      assert.deepEqual(guarded, [intended[n.metadata.name]], `NetworkPolicy ${n.metadata.name} guards its pods`);
    }
    for (const rule of n.spec.ingress ?? []) {
      for (const from of rule.from ?? []) {
        if (from.podSelector) assert.deepEqual(picks(docs, from.podSelector), ['registry-gateway'], `NetworkPolicy ${n.metadata.name}: from selects the gateway pods only`);
      }
    }
  }
  for (const m of docs.filter((o) => o.kind === 'ServiceMonitor')) {
    const services = docs.filter((o) => o.kind === 'Service' && matches(m.spec.selector, o.metadata.labels ?? {}));
    assert.deepEqual(services.map((s) => s.metadata.name), ['registry-gateway']);
    for (const e of m.spec.endpoints) assert.ok(services[0]!.spec.ports.some((p: Obj) => p.name === e.port), `ServiceMonitor port ${e.port}`);
  }
}

test('selectors pick exactly the pods they are meant for: Services, PDB, spread, NetworkPolicies, ServiceMonitor', () => {
  for (const [name, v] of Object.entries(variants)) assert.doesNotThrow(() => checkSelectors(v.docs), name);
  const redisPolicy = get(withRegistry.docs, 'NetworkPolicy', 'registry-gateway-redis');
  assert.deepEqual(redisPolicy.spec.ingress.map((r: Obj) => r.ports.map((p: Obj) => p.port)), [[6379]]);
  const registryPolicy = get(withRegistry.docs, 'NetworkPolicy', 'registry');
  assert.deepEqual(registryPolicy.spec.policyTypes, ['Ingress']);
  assert.equal(registryPolicy.spec.ingress.length, 1, 'one rule: from the gateway pods');
  const gw = get(withRegistry.docs, 'NetworkPolicy', 'registry-gateway');
  assert.deepEqual(gw.spec.ingress, [{ ports: [{ port: 5443, protocol: 'TCP' }] }, { from: [{ namespaceSelector: {} }], ports: [{ port: 9464, protocol: 'TCP' }] }],
    'HTTPS from anywhere; metrics from pods in the cluster');
});

test('the gateway Deployment: 2 replicas, least privilege, probes on the metrics port, resources, a grace beyond the drain', () => {
  for (const [name, v] of Object.entries(variants)) {
    const d = gatewayOf(v.docs);
    const pod = d.spec.template.spec;
    const c = pod.containers[0];
    assert.equal(d.spec.replicas, name === 'single' ? 1 : 2, name);
    assert.equal(c.image, `registry-gateway:${pkg.version}`);
    assert.deepEqual(pod.securityContext, { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    assert.deepEqual(c.securityContext, { allowPrivilegeEscalation: false, privileged: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    assert.equal(pod.automountServiceAccountToken, false);
    const portOf = (p: number | string) => (typeof p === 'number' ? p : c.ports.find((x: Obj) => x.name === p).containerPort);
    const probes = Object.fromEntries(['startupProbe', 'readinessProbe', 'livenessProbe'].map((k) => [k, [c[k].httpGet.path, portOf(c[k].httpGet.port), c[k].httpGet.scheme]]));
    // Off 5443 (its client caps and PROXY protocol); readiness without what every replica shares.
    assert.deepEqual(probes, {
      startupProbe: ['/startupz', 9464, undefined], readinessProbe: ['/readyz?exclude=upstream,certificate,redis', 9464, undefined],
      livenessProbe: ['/livez', 9464, undefined],
    });
    assert.deepEqual(c.ports.map((p: Obj) => [p.name, p.containerPort]), [['https', 5443], ['metrics', 9464]]);
    assert.deepEqual(c.resources, { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '512Mi' } });
    assert.deepEqual(pod.topologySpreadConstraints.map((t: Obj) => [t.topologyKey, t.whenUnsatisfiable]),
      [['kubernetes.io/hostname', 'ScheduleAnyway'], ['topology.kubernetes.io/zone', 'ScheduleAnyway']]);
    const { shutdown } = configOf(v.docs);
    assert.ok(pod.terminationGracePeriodSeconds > shutdown.delay + (shutdown.grace ?? 30), `${name}: grace ${pod.terminationGracePeriodSeconds}`);
    assert.deepEqual(get(v.docs, 'PodDisruptionBudget', 'registry-gateway').spec.maxUnavailable, 1);
    assert.equal(get(v.docs, 'PodDisruptionBudget', 'registry-gateway').spec.unhealthyPodEvictionPolicy, 'AlwaysAllow');
    assert.ok(!c.volumeMounts.some((m: Obj) => m.subPath), 'no subPath: the kubelet updates only whole-directory mounts');
    assert.ok(c.volumeMounts.every((m: Obj) => m.readOnly));
  }
});

/** The files the gateway container sees, from its volumes and the rendered objects (what the kubelet would place). */
interface Mounted { name: string; mountPath: string; readOnly: boolean; files?: { key: string; content: Buffer; mode: number }[] }

function mountedVolumes(docs: Obj[], deployment: Obj): Mounted[] {
  const pod = deployment.spec.template.spec;
  return pod.containers[0].volumeMounts.flatMap((m: Obj): Mounted[] => {
    assert.equal(m.subPath, undefined, 'this test places whole volumes');
    const v = pod.volumes.find((x: Obj) => x.name === m.name) ?? assert.fail(`no volume ${m.name}`);
    if (v.emptyDir) return [{ name: m.name, mountPath: m.mountPath, readOnly: Boolean(m.readOnly) }];
    const source = v.secret ?? v.configMap ?? assert.fail(`volume ${v.name}: a kind this test does not place`);
    const obj = find(docs, v.secret ? 'Secret' : 'ConfigMap', v.secret ? source.secretName : source.name);
    if (!obj) {
      assert.ok(source.optional, `volume ${v.name}: ${source.secretName ?? source.name} is neither rendered nor optional`);
      return [];
    }
    const data = new Map<string, Buffer>(Object.entries(obj.data ?? {}).map(([k, s]) => [k, v.secret ? Buffer.from(s as string, 'base64') : Buffer.from(s as string)]));
    const mode = source.defaultMode ?? 0o644;
    const files = source.items
      ? source.items.map((i: Obj) => ({ key: i.path, content: data.get(i.key)!, mode: i.mode ?? mode }))
      : [...data].map(([key, content]) => ({ key, content, mode }));
    return [{ name: m.name, mountPath: m.mountPath, readOnly: Boolean(m.readOnly), files }];
  });
}

test('every path gateway.yaml names is a file the Pod mounts; the Secrets hold the local files, never a CA key', async () => {
  for (const [name, v] of Object.entries(variants)) {
    const config = configOf(v.docs);
    const files = new Map(mountedVolumes(v.docs, gatewayOf(v.docs)).flatMap((m) => (m.files ?? []).map((f): [string, typeof f] => [`${m.mountPath}/${f.key}`, f])));
    const paths = [config.tls.cert, config.tls.key, ...(config.auth?.mode === 'none' ? [] : [config.auth.htpasswd]),
      ...(config.auth?.mode === 'token' ? [config.auth.token.signingKey, config.auth.token.signingKey.replace(/\.key$/, '.crt')] : [])];
    for (const p of paths) assert.ok(files.has(p), `${name}: ${p} is mounted`);
    assert.ok(files.has(join(config.tls.cert, '../ca.crt')), `${name}: ca.crt beside server.crt, for /trust/`);
    assert.equal(String(files.get(config.tls.key)!.content), await readFile(join(work, 'certs/server.key'), 'utf8'));
    assert.equal(String(files.get(config.auth.htpasswd)!.content), await readFile(join(work, 'config/htpasswd'), 'utf8'));
    assert.ok(![...files.keys()].some((p) => /ca(-next|-previous)?\.key$/.test(p)), `${name}: no CA key in the Pod`);
    for (const s of v.docs.filter((o) => o.kind === 'Secret')) assert.ok(!Object.keys(s.data).some((k) => /^ca.*\.key$/.test(k)));
    assert.equal(config.listen, '[::]:5443');
    assert.equal(config.metrics.listen, '[::]:9464');
    assert.equal((await stat(join(v.dir, 'certs/server.key'))).mode & 0o777, 0o600);
    assert.equal((await stat(join(v.dir, 'users/htpasswd'))).mode & 0o777, 0o600);
    assert.equal((await stat(v.dir)).mode & 0o777, 0o700);
    for (const d of v.docs.filter((o) => o.metadata.namespace !== undefined || o.kind !== 'Namespace')) {
      assert.equal(d.metadata.namespace, name === 'existing' ? 'infra' : NS, `${d.kind} ${d.metadata.name}`);
    }
  }
  assert.equal(find(withRegistry.docs, 'Secret', 'registry-gateway-token'), undefined, 'no token key unless asked');
  const tokenSecret = get(token.docs, 'Secret', 'registry-gateway-token');
  assert.deepEqual(Object.keys(tokenSecret.data).sort(), ['token.crt', 'token.key']);
  assert.equal((await stat(join(token.dir, 'token/token.key'))).mode & 0o777, 0o600);
  assert.match(token.stdout, /created certs\/token\.key/);
  assert.deepEqual([configOf(token.docs).auth.mode, configOf(token.docs).publicUrl], ['token', `https://${ADDRESS}`]);
  // The Redis the config names is the rendered Service.
  const redis = new URL(configOf(withRegistry.docs).redis.url);
  const redisService = get(withRegistry.docs, 'Service', redis.hostname);
  assert.equal(redisService.spec.ports[0].port, Number(redis.port));
});

test('Redis: non-root, read-only, nothing kept; the registry: its http.secret from a Secret, kept when rendered again', async () => {
  const r = get(withRegistry.docs, 'Deployment', 'registry-gateway-redis').spec.template.spec;
  assert.equal(r.securityContext.runAsNonRoot, true);
  assert.equal(r.containers[0].securityContext.readOnlyRootFilesystem, true);
  const args = r.containers[0].args as string[];
  assert.equal(args[args.indexOf('--save') + 1], '');
  assert.equal(args[args.indexOf('--appendonly') + 1], 'no');
  assert.deepEqual(r.volumes, [{ name: 'data', emptyDir: { sizeLimit: '64Mi' } }]);
  // A password from a Secret, the one the gateway's redis.passwordFile holds; no protected-mode off.
  assert.ok(!args.includes('--protected-mode'));
  assert.equal(args[args.indexOf('--requirepass') + 1], '$(REDIS_PASSWORD)');
  const env = Object.fromEntries(r.containers[0].env.map((e: Obj) => [e.name, e.valueFrom.secretKeyRef]));
  assert.deepEqual(Object.keys(env).sort(), ['REDISCLI_AUTH', 'REDIS_PASSWORD'], 'the readiness probe\'s redis-cli authenticates too');
  const password = Buffer.from(get(withRegistry.docs, 'Secret', env.REDIS_PASSWORD.name).data.password, 'base64').toString();
  assert.match(password, /^[0-9a-f]{64}$/);
  const gwConfig = configOf(withRegistry.docs);
  const mountedFiles = new Map(mountedVolumes(withRegistry.docs, gatewayOf(withRegistry.docs))
    .flatMap((m) => (m.files ?? []).map((f): [string, string] => [`${m.mountPath}/${f.key}`, String(f.content)])));
  assert.equal(mountedFiles.get(gwConfig.redis.passwordFile), password, 'the gateway reads the same password');
  // The pod's gateway (started above from these manifests) authenticates to the pod's redis-server.
  assert.equal((await request(`https://${ADDRESS}/readyz`, { ca })).status, 200);
  const reg = get(withRegistry.docs, 'Deployment', 'registry').spec.template.spec;
  assert.equal(reg.enableServiceLinks, false, 'no REGISTRY_* variables from Service links');
  const ref = reg.containers[0].env.find((e: Obj) => e.name === 'REGISTRY_HTTP_SECRET').valueFrom.secretKeyRef;
  const secret = Buffer.from(get(withRegistry.docs, 'Secret', ref.name).data[ref.key], 'base64').toString();
  assert.match(secret, /^[0-9a-f]{64}$/);
  const upstream = new URL(upstreamOf(configOf(withRegistry.docs)));
  const service = get(withRegistry.docs, 'Service', upstream.hostname);
  assert.equal(service.spec.ports[0].port, Number(upstream.port));
  // The registry opens only to the gateway's credential: straight to it (as a pod past the NetworkPolicy), 401.
  const direct = (path: string, auth?: string) => new Promise<number>((resolve, reject) => {
    http.get(`http://${host.address}:${upstream.port}${path}`, { agent: false, headers: auth ? { authorization: auth } : {} }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    }).on('error', reject);
  });
  assert.equal(await direct('/v2/'), 401);
  assert.equal(await direct('/'), 200, 'the probes\' path answers without credentials');
  const client = configOf(withRegistry.docs).upstream;
  const gwFiles = new Map(mountedVolumes(withRegistry.docs, gatewayOf(withRegistry.docs))
    .flatMap((m) => (m.files ?? []).map((f): [string, string] => [`${m.mountPath}/${f.key}`, String(f.content)])));
  const upstreamPassword = gwFiles.get(client.passwordFile) ?? assert.fail(`${client.passwordFile} is mounted`);
  assert.match(upstreamPassword, /^[0-9a-f]{64}$/);
  assert.equal(await direct('/v2/', `Basic ${Buffer.from(`${client.username}:${upstreamPassword}`).toString('base64')}`), 200,
    'the control: the gateway\'s credential opens it');
  assert.equal((await request(`https://${ADDRESS}/v2/`, { ca, user: 'alice:alice-pw' })).status, 200, 'and the gateway uses it');
  // Rendered again: the same secret, so uploads in progress survive the re-apply.
  const again = await deploy('with-registry', ['--force']);
  const ref2 = get(again.docs, 'Deployment', 'registry').spec.template.spec.containers[0].env.find((e: Obj) => e.name === 'REGISTRY_HTTP_SECRET').valueFrom.secretKeyRef;
  assert.equal(Buffer.from(get(again.docs, 'Secret', ref2.name).data[ref2.key], 'base64').toString(), secret);
  const redisRef = get(again.docs, 'Deployment', 'registry-gateway-redis').spec.template.spec.containers[0].env[0].valueFrom.secretKeyRef;
  assert.equal(Buffer.from(get(again.docs, 'Secret', redisRef.name).data.password, 'base64').toString(), password, 'and the same Redis password');
  // A configured redis.passwordFile: its password is the bundled Redis's.
  await writeFile(join(work, 'redis-pw'), 'my-own-redis-password\n');
  await writeFile(join(work, 'redis.yaml'), 'redis:\n  url: redis://elsewhere:6379\n  passwordFile: redis-pw\n');
  const own = await deploy('own-redis-password', ['--config', 'redis.yaml']);
  const ownRef = get(own.docs, 'Deployment', 'registry-gateway-redis').spec.template.spec.containers[0].env[0].valueFrom.secretKeyRef;
  assert.equal(Buffer.from(get(own.docs, 'Secret', ownRef.name).data.password, 'base64').toString(), 'my-own-redis-password');
  assert.match(own.stdout, /uses the password in redis-pw/);
});

test('existing-registry: the policy selects the given labels, the upstream is the given Service, nothing else deployed; single: no Redis', () => {
  assert.deepEqual(get(existing.docs, 'NetworkPolicy', 'registry').spec.podSelector, { matchLabels: { app: 'docker-registry', release: 'reg' } });
  assert.equal(find(existing.docs, 'Deployment', 'registry'), undefined);
  assert.equal(configOf(existing.docs).upstream, 'http://registry.infra.svc.cluster.local:5000');
  assert.match(existing.stderr, /names neither registry-gateway\.infra\.svc nor registry-gateway\.infra\.svc\.cluster\.local.*gateway certs add-host --dir certs --host registry-gateway\.infra\.svc\.cluster\.local/);
  assert.doesNotMatch(withRegistry.stderr, /names neither/, 'the certificate names the Service: no warning');
  assert.equal(get(existing.docs, 'Namespace', 'infra').metadata.labels['pod-security.kubernetes.io/enforce'], undefined);
  assert.equal(get(withRegistry.docs, 'Namespace', NS).metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
  assert.equal(single.docs.filter((d) => /redis/.test(d.metadata.name)).length, 0);
  assert.equal(configOf(single.docs).redis, undefined);
});

test('refusals: each bad input named with its fix, and nothing written', async () => {
  const refuse = async (args: string[], pattern: RegExp, cwd = work) => {
    const out = join(work, `refused-${randomBytes(3).toString('hex')}`);
    const r = await gatewayCli(['deploy', 'kubernetes', '--out', out, ...args], { cwd });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, pattern);
    await assert.rejects(stat(out), `${args.join(' ')}: nothing written`);
  };
  const empty = await tempDir();
  // The node address first: nodes cannot resolve the Service name.
  await refuse([], /cannot read certs\/server\.crt \(ENOENT\); run 'gateway certs init --dir certs --host NODE_ADDRESS --host registry-gateway\.registry-gateway\.svc\.cluster\.local' first \(NODE_ADDRESS: what nodes and clients outside use, see --expose\)/, empty);
  await refuse(['--overlay', 'bundled'], /unknown --overlay 'bundled': choose with-registry .* or existing-registry/);
  await refuse(['--overlay', 'existing-registry', '--registry-selector', 'app=r'], /needs --upstream URL.*this machine's loopback|needs --upstream URL/);
  await refuse(['--overlay', 'existing-registry', '--upstream', 'http://registry:5000'], /needs --registry-selector/);
  await refuse(['--htpasswd', 'missing/htpasswd'], /htpasswd file missing\/htpasswd not found; create a user with 'gateway users add NAME/);
  await refuse(['--config', 'token.yaml'], /auth\.mode token.*pass --with-token-key/);
  await refuse(['--with-token-key'], /--with-token-key is for auth\.mode token/);
  const r = await gatewayCli(['deploy', 'kubernetes', '--out', withRegistry.dir], { cwd: work });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /exists \(an earlier output of this command\); pass --force to replace it/);
  const foreign = await tempDir();
  await writeFile(join(foreign, 'notes.txt'), 'mine');
  const f = await gatewayCli(['deploy', 'kubernetes', '--out', foreign, '--force'], { cwd: work });
  assert.equal(f.code, 2);
  assert.match(f.stderr, /not written by 'gateway deploy kubernetes'.*refusing to replace it, even with --force/);
  assert.equal(await readFile(join(foreign, 'notes.txt'), 'utf8'), 'mine');
  assert.deepEqual((await readdir(work)).filter((n) => /\.(tmp|old)-/.test(n)), [], 'no staging directory left behind');
  assert.match(withRegistry.stdout, /^next:\n  kubectl apply -k with-registry\n  kubectl -n registry-gateway rollout status deployment\/registry-gateway\n/m);
});

test('the Pod, run here: as uid 65532 with a read-only root, from the rendered files; it serves and skopeo pushes through it', async (t) => {
  // Every step before node exec()s: the process started is the gateway itself.
  const status = await readFile(`/proc/${pod.pid}/status`, 'utf8');
  assert.match(status, /^Name:\s+gateway$/m);
  assert.match(status, /^Uid:\s+65532\s+65532\s+65532\s+65532$/m);
  assert.match(status, /^Gid:\s+65532\s/m);
  assert.match(status, /^Groups:\s+65532\s*$/m, 'fsGroup as the one supplementary group');
  assert.match(status, /^NoNewPrivs:\s+1$/m, 'allowPrivilegeEscalation: false');
  assert.match(status, /^CapBnd:\s+0+$/m, 'capabilities: drop ALL');
  const health = await request(`https://${ADDRESS}/healthz`, { ca });
  assert.equal(health.status, 200, health.body.toString());
  const layout = await buildImage(work, '1', [256 * 1024]);
  const push = await skopeo(['copy', '--dest-creds', 'alice:alice-pw', '--dest-cert-dir', trusted, `oci:${layout}:1`, `docker://${ADDRESS}/alice/app:1`]);
  assert.equal(push.code, 0, `${push.stderr}\n${podLog.split('\n').slice(-10).join('\n')}`);
  const inspect = await skopeo(['inspect', '--creds', 'alice:alice-pw', '--cert-dir', trusted, `docker://${ADDRESS}/alice/app:1`]);
  assert.equal(inspect.code, 0, inspect.stderr);
  assert.equal(JSON.parse(inspect.stdout).Name, `${ADDRESS}/alice/app`);
  const denied = await request(`https://${ADDRESS}/v2/`, { ca, user: 'alice:wrong' });
  assert.equal(denied.status, 401);
  assert.doesNotMatch(podLog, /EROFS|read-only file system/i, 'nothing written to the root filesystem');
  // The memory the Deployment requests and limits, against what the process holds after a push.
  const rss = Number(/^VmRSS:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pod.pid}/status`, 'utf8'))![1]) * 1024;
  t.diagnostic(`gateway resident set after a push: ${(rss / 2 ** 20).toFixed(0)} MiB`);
  const mib = (q: string) => Number(/^(\d+)Mi$/.exec(q)![1]) * 2 ** 20;
  assert.ok(rss < mib(gwContainer.resources.limits.memory) / 2, 'well inside the limit');
});

test('the Pod answers its own probes (startupz, readyz, livez on the metrics port) and serves metrics there', async () => {
  const portOf = (p: number | string) => (typeof p === 'number' ? p : gwContainer.ports.find((x: Obj) => x.name === p).containerPort);
  for (const k of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
    const { path, port, scheme } = gwContainer[k].httpGet;
    assert.equal(scheme, undefined, 'HTTP, the default');
    // As the kubelet asks: the pod's address, Host the pod IP.
    const r = await until(`${k} ${path}`, async () => {
      const reply = await fetch(`http://${host.address}:${portOf(port)}${path}`);
      return reply.status === 200 ? reply : undefined;
    }, 15_000);
    assert.equal(r.status, 200);
  }
  const metricsPort = gwContainer.ports.find((p: Obj) => p.name === 'metrics').containerPort;
  const metrics = await until('metrics', () => fetch(`http://${host.address}:${metricsPort}/metrics`).then((r) => (r.ok ? r.text() : undefined)), 10_000);
  assert.match(metrics, /^# (HELP|TYPE) /m);
});

/** Renders again after a change and swaps the named volume as the kubelet does when the Secret changes. */
async function updateSecret(volume: string): Promise<Obj[]> {
  const again = await deploy('with-registry', ['--force']);
  const m = mountedVolumes(again.docs, gatewayOf(again.docs)).find((x) => x.name === volume)!;
  await project(join(volumesDir, volume), m.files!, fsGroup);
  return again.docs;
}

const peerNames = (trust = ca) => new Promise<string>((resolve, reject) => {
  const socket = connect({ host: host.address, port: 5443, ca: trust }, () => {
    resolve(socket.getPeerCertificate().subjectaltname ?? '');
    socket.end();
  });
  socket.once('error', reject);
});

test('Secret updates as the kubelet makes them (a ..data swap): a new user, a new name on the certificate, a CA rollover; no restart', async () => {
  const started = podLog.split('"msg":"gateway started"').length - 1;
  // A user added here reaches the Pod through the Secret.
  await cli(['users', 'add', 'bob', '--password-stdin', '--min-length', '1', '--cost', '4'], 'bob-pw');
  assert.equal((await request(`https://${ADDRESS}/v2/`, { ca, user: 'bob:bob-pw' })).status, 401);
  await updateSecret('users');
  await until('bob logs in after the users Secret changed', async () => ((await request(`https://${ADDRESS}/v2/`, { ca, user: 'bob:bob-pw' })).status === 200 ? true : undefined));
  assert.equal((await request(`https://${ADDRESS}/v2/`, { ca, user: 'alice:alice-pw' })).status, 200);
  // A name added to the certificate.
  await cli(['certs', 'add-host', '--host', 'extra.registry-gateway.test']);
  assert.doesNotMatch(await peerNames(), /extra\.registry-gateway\.test/);
  await updateSecret('tls');
  await until('the new certificate is served', async () => ((await peerNames()).includes('DNS:extra.registry-gateway.test') ? true : undefined));
  // A CA rollover's first step: ca-next.crt is a new key of the Secret, a new file in the Pod.
  await cli(['certs', 'rollover', 'start']);
  const after = await updateSecret('tls');
  assert.ok(!Object.keys(get(after, 'Secret', 'registry-gateway-tls').data).includes('ca-next.key'));
  const next = await readFile(join(work, 'certs/ca-next.crt'), 'utf8');
  await until('/trust/ca.crt gives both CAs', async () => {
    const r = await request(`https://${ADDRESS}/trust/ca.crt`, { ca });
    return r.body.toString().includes(next.trim().split('\n')[1]!) ? true : undefined;
  });
  // The switch: ca.crt itself changes (the new CA), server.crt is re-issued from it, ca-previous.crt appears.
  await cli(['certs', 'rollover', 'switch']);
  await updateSecret('tls');
  await until('/trust/ca.crt leads with the new CA', async () => {
    const r = await request(`https://${ADDRESS}/trust/ca.crt`, { ca: `${ca}${next}` });
    return r.body.toString().startsWith(next.replace(/\r\n/g, '\n').trimEnd()) ? true : undefined;
  });
  assert.match(await peerNames(next), /DNS:extra\.registry-gateway\.test/, 'the re-issued certificate, verified with the new CA alone');
  assert.equal(podLog.split('"msg":"gateway started"').length - 1, started, 'the same process throughout');
  assert.equal(pod.exitCode, null);
});

test('SIGTERM: the Pod\'s gateway exits 0 within terminationGracePeriodSeconds', async () => {
  const began = Date.now();
  pod.kill('SIGTERM');
  const code = await podExit;
  assert.equal(code, 0, podLog.split('\n').slice(-10).join('\n'));
  assert.ok(Date.now() - began < gwPod.terminationGracePeriodSeconds * 1000);
});
