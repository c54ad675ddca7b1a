// The bundle's Kubernetes objects against the Kubernetes schemas
// (kubernetes-models validates with the OpenAPI schemas it ships: no
// cluster, no network), and the DaemonSet's own loop run by sh on a stand-in
// node: it copies only what changed, and is Ready only where containerd reads
// /etc/containerd/certs.d.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { ConfigMap, Secret } from 'kubernetes-models/v1';
import { parseAddress } from '../../src/bundle/address.js';
import { renderBundle, type BundleFile } from '../../src/bundle/render.js';
import { exec } from '../helpers/exec.js';
import { tempDir } from '../helpers/tmp.js';

const CA = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
const addresses = [parseAddress('registry.example.test:5443'), parseAddress('[::1]:5443')];
const IMAGE = 'registry.example.test:5443/library/busybox:1.36';
const render = (extra: Partial<Parameters<typeof renderBundle>[0]> = {}) => renderBundle({ addresses, caPem: CA, outDir: '/srv/trust', ...extra });
const docsOf = (files: BundleFile[]) => files.filter((f) => f.path.startsWith('kubernetes/'))
  .flatMap((f) => parseAllDocuments(f.content).map((d) => ({ path: f.path, obj: d.toJS() as Record<string, any> })));
const MODELS: Record<string, new (o: any) => { validate(): void }> = { ConfigMap, Secret, DaemonSet };

function validateAll(files: BundleFile[]): string[] {
  const kinds: string[] = [];
  for (const { path, obj } of docsOf(files)) {
    const Model = MODELS[obj.kind] ?? assert.fail(`${path}: no schema for ${obj.kind}`);
    assert.doesNotThrow(() => new Model(obj).validate(), `${path} ${obj.kind}`);
    kinds.push(obj.kind);
  }
  return kinds;
}

test('the schemas catch a broken object (the check can fail)', () => {
  const ds = docsOf(render({ daemonset: { image: IMAGE, targets: ['containerd'] } })).find((d) => d.obj.kind === 'DaemonSet')!.obj;
  ds.spec.template.spec.containers[0].volumeMounts[0].readOnly = 'yes';
  assert.throws(() => new DaemonSet(ds as any).validate(), /readOnly must be boolean/);
});

test('every rendered Kubernetes object validates: defaults, with a DaemonSet for every target, with a pull secret', () => {
  assert.deepEqual(validateAll(render()), ['ConfigMap', 'ConfigMap']);
  const all = render({ daemonset: { image: IMAGE, targets: ['containerd', 'docker', 'k3s', 'rke2'] }, pullSecret: { user: 'ci', password: 'pw' } });
  assert.deepEqual(validateAll(all).sort(), ['ConfigMap', 'ConfigMap', 'DaemonSet', 'Secret']);
});

test('the DaemonSet: only the image named, hostPaths per distribution, least privilege, Pod Security level said', () => {
  const files = render({ daemonset: { image: IMAGE, targets: ['containerd', 'k3s', 'rke2'] } });
  const ds = docsOf(files).find((d) => d.obj.kind === 'DaemonSet')!.obj;
  const spec = ds.spec.template.spec;
  assert.deepEqual(spec.containers.map((c: any) => c.image), [IMAGE]);
  assert.ok(!files.some((f) => f.content.includes('busybox:1.36') && !f.content.includes(IMAGE)), 'no other image anywhere');
  const hostPaths = spec.volumes.filter((v: any) => v.hostPath).map((v: any) => v.hostPath.path);
  assert.deepEqual(hostPaths, ['/etc/containerd', '/etc/containerd/certs.d', '/var/lib/rancher/k3s/agent/etc/containerd/certs.d', '/var/lib/rancher/rke2/agent/etc/containerd/certs.d']);
  const mounts = Object.fromEntries(spec.containers[0].volumeMounts.map((m: any) => [m.mountPath, m.readOnly ?? false]));
  assert.equal(mounts['/host/etc/containerd'], true, 'config.toml is read, never written');
  assert.deepEqual(spec.containers[0].securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false, capabilities: { drop: ['ALL'] } });
  assert.equal(spec.securityContext.seccompProfile.type, 'RuntimeDefault');
  assert.equal(spec.automountServiceAccountToken, false);
  assert.deepEqual(spec.containers[0].readinessProbe.exec.command, ['cat', '/run/state/ready']);
  assert.match(files.find((f) => f.path === 'kubernetes/registry-trust.yaml')!.content, /Pod Security level is\n# "privileged": "baseline" and "restricted" forbid hostPath/);
});

test('the DaemonSet\'s loop, on a stand-in node: writes once, rewrites nothing unchanged, Ready only once config_path reads certs.d', async () => {
  const dir = await tempDir();
  const files = render({ daemonset: { image: IMAGE, targets: ['containerd', 'docker'] } });
  const docs = docsOf(files).filter((d) => d.path === 'kubernetes/registry-trust.yaml').map((d) => d.obj);
  const [cm, ds] = [docs.find((d) => d.kind === 'ConfigMap'), docs.find((d) => d.kind === 'DaemonSet')];
  // The pod's paths moved under dir; one pass of the loop instead of forever.
  const script = (ds!.spec.template.spec.containers[0].command[2] as string)
    .replaceAll('/host/', `${dir}/host/`).replaceAll('/trust/', `${dir}/trust/`).replaceAll('/run/state/', `${dir}/state/`)
    .replace('  sleep 60', '  break');
  await mkdir(join(dir, 'trust'));
  for (const [k, v] of Object.entries(cm!.data as Record<string, string>)) await writeFile(join(dir, 'trust', k), v);
  await mkdir(join(dir, 'state'));
  await mkdir(join(dir, 'host', 'etc', 'containerd'), { recursive: true });
  const conf = join(dir, 'host', 'etc', 'containerd', 'config.toml');
  await writeFile(conf, 'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = ""\n');
  const once = await exec('sh', ['-c', script]);
  assert.equal(once.code, 0, once.stderr);
  const ca = join(dir, 'host', 'etc', 'containerd', 'certs.d', 'registry.example.test:5443', 'ca.crt');
  assert.equal(await readFile(ca, 'utf8'), CA);
  assert.equal(await readFile(join(dir, 'host', 'etc', 'docker', 'certs.d', '[::1]:5443', 'ca.crt'), 'utf8'), CA);
  assert.match(once.stdout, /wrote .*hosts\.toml/);
  assert.match(once.stdout, /containerd: \/etc\/containerd\/config\.toml line 3 has config_path = ""/, 'the node\'s path, not the container\'s');
  await assert.rejects(stat(join(dir, 'state', 'ready')), 'not Ready while certs.d is off');
  const before = (await stat(ca)).mtimeMs;
  await writeFile(conf, 'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"\n');
  await new Promise((r) => setTimeout(r, 20));
  const twice = await exec('sh', ['-c', script]);
  assert.equal(twice.code, 0, twice.stderr);
  assert.doesNotMatch(twice.stdout, /wrote/, 'nothing rewritten when unchanged');
  assert.equal((await stat(ca)).mtimeMs, before);
  assert.ok((await stat(join(dir, 'state', 'ready'))).isFile(), 'Ready once config_path includes certs.d');
});
