import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { parseAddress } from '../../src/bundle/address.js';
import { renderBundle, type BundleFile } from '../../src/bundle/render.js';
import { tarball } from '../../src/bundle/tarball.js';
import { exec } from '../helpers/exec.js';
import { tempDir } from '../helpers/tmp.js';

const CA = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
const addresses = [parseAddress('registry.example.test:5443'), parseAddress('localhost:5443')];
const publicFiles = renderBundle({ addresses, caPem: CA, outDir: '/srv/trust' });
// A stand-in, not a key; the marker is assembled so no tracked file looks like one.
const KEY_MARKER = ['PRIVATE', 'KEY'].join(' ');
const withSecrets = renderBundle({ addresses, caPem: CA, outDir: '/srv/trust', client: { certPem: 'CERT', keyPem: `-----BEGIN ${KEY_MARKER}-----\nk\n-----END ${KEY_MARKER}-----\n`, node: 'n1' }, pullSecret: { user: 'ci', password: 'p@ss' } });
const file = (files: BundleFile[], path: string) => files.find((f) => f.path === path) ?? assert.fail(`no ${path}`);

test('addresses: port kept, 443 dropped, bad ones refused', () => {
  assert.equal(parseAddress('Registry.Test:5443').name, 'registry.test:5443');
  assert.equal(parseAddress('registry.test:443').name, 'registry.test');
  assert.equal(parseAddress('[::1]:5443').name, '[::1]:5443');
  // No port: an error naming both fixes, never a silent 443.
  assert.throws(() => parseAddress('198.18.99.214'), /invalid --host '198\.18\.99\.214': no port\. Write 198\.18\.99\.214:5443 \(the gateway listens on 5443 by default\), or 198\.18\.99\.214:443 if it really serves on 443/);
  assert.throws(() => parseAddress('[::1]'), /no port\. Write \[::1\]:5443/);
  for (const bad of ['a..b:1', 'x:99999', '*.a.test:1', 'http://x:1', 'x:1:2']) assert.throws(() => parseAddress(bad), /invalid --host/, bad);
});

test('every runtime layout, per address', () => {
  const paths = publicFiles.map((f) => f.path);
  for (const a of ['registry.example.test:5443', 'localhost:5443']) {
    for (const p of [`docker/certs.d/${a}/ca.crt`, `containerd/certs.d/${a}/ca.crt`, `containerd/certs.d/${a}/hosts.toml`, `containers/certs.d/${a}/ca.crt`, `k3s/certs.d/${a}/ca.crt`]) assert.ok(paths.includes(p), p);
  }
  for (const p of ['containerd/config-1.x.toml', 'containerd/config-2.x.toml', 'k3s/registries.yaml', 'kind/cluster.yaml', 'k3d/config.yaml', 'kubernetes/registry-trust.yaml', 'kubernetes/local-registry-hosting.yaml', 'install.sh', 'README.txt', 'SHA256SUMS']) assert.ok(paths.includes(p), p);
  assert.ok(!paths.some((p) => p.includes('client') || p.includes('pull-secret')), 'no private material unless asked');
  assert.ok(!publicFiles.some((f) => f.content.includes(KEY_MARKER)));
  assert.ok(publicFiles.every((f) => f.mode === (f.path === 'install.sh' ? 0o755 : 0o644)));
});

test('hosts.toml and the config_path snippets parse back as containerd expects', () => {
  const hosts = parseToml(file(publicFiles, 'containerd/certs.d/registry.example.test:5443/hosts.toml').content) as any;
  assert.equal(hosts.server, 'https://registry.example.test:5443');
  assert.deepEqual({ ...hosts.host['https://registry.example.test:5443'] }, { capabilities: ['pull', 'resolve', 'push'], ca: 'ca.crt' });
  const v2 = parseToml(file(publicFiles, 'containerd/config-1.x.toml').content) as any;
  assert.equal(v2.version, 2);
  assert.equal(v2.plugins['io.containerd.grpc.v1.cri'].registry.config_path, '/etc/containerd/certs.d');
  const v3 = parseToml(file(publicFiles, 'containerd/config-2.x.toml').content) as any;
  assert.equal(v3.version, 3);
  assert.equal(v3.plugins['io.containerd.cri.v1.images'].registry.config_path, '/etc/containerd/certs.d');
  const client = parseToml(file(withSecrets, 'containerd/certs.d/localhost:5443/hosts.toml').content) as any;
  assert.deepEqual(client.host['https://localhost:5443'].client, [['client.cert', 'client.key']]);
});

test('k3s, kind and k3d configs parse back and point at the installed CA', () => {
  const reg = parseYaml(file(publicFiles, 'k3s/registries.yaml').content);
  assert.deepEqual(reg.mirrors['localhost:5443'], { endpoint: ['https://localhost:5443'] });
  assert.equal(reg.configs['localhost:5443'].tls.ca_file, '/etc/rancher/k3s/certs.d/localhost:5443/ca.crt');
  assert.equal(reg.configs['localhost:5443'].auth, undefined);
  const secretReg = parseYaml(file(withSecrets, 'k3s/registries.yaml').content);
  assert.deepEqual(secretReg.configs['localhost:5443'].auth, { username: 'ci', password: 'p@ss' });
  assert.equal(file(withSecrets, 'k3s/registries.yaml').mode, 0o600);
  const kind = parseYaml(file(publicFiles, 'kind/cluster.yaml').content);
  assert.equal(kind.apiVersion, 'kind.x-k8s.io/v1alpha4');
  assert.match(kind.containerdConfigPatches[0], /config_path = "\/etc\/containerd\/certs.d"/);
  // One mount per address directory, on every node: /etc/containerd/certs.d itself stays writable.
  const mounts = addresses.map((a) => ({ hostPath: `/srv/trust/containerd/certs.d/${a.name}`, containerPath: `/etc/containerd/certs.d/${a.name}`, readOnly: true }));
  assert.deepEqual(kind.nodes.map((n: any) => n.role), ['control-plane', 'worker']);
  for (const node of kind.nodes) assert.deepEqual(node.extraMounts, mounts);
  assert.match(file(publicFiles, 'kind/cluster.yaml').content, /hostPath is where the bundle is on the machine\n# that runs kind[^]*made for\n# \/srv\/trust\./);
  assert.match(file(publicFiles, 'kind/cluster.yaml').content, /extraMounts: \*mounts/);
  const k3d = parseYaml(file(publicFiles, 'k3d/config.yaml').content);
  assert.deepEqual([k3d.apiVersion, k3d.kind], ['k3d.io/v1alpha5', 'Simple']);
  assert.deepEqual(parseYaml(k3d.registries.config), reg);
  assert.equal(k3d.volumes[0].volume, '/srv/trust/k3s/certs.d:/etc/rancher/k3s/certs.d');
});

test('Kubernetes: ConfigMap, no DaemonSet unless an image is named, KEP-1755 ConfigMap, pull secret on request', () => {
  const docs = parseAllDocuments(file(publicFiles, 'kubernetes/registry-trust.yaml').content).map((d) => d.toJS());
  assert.deepEqual(docs.map((d) => d.kind), ['ConfigMap'], 'no image named: no DaemonSet, so nothing pulled from outside');
  const [cm] = docs;
  assert.ok(Object.keys(cm.data).every((k) => /^[-._a-zA-Z0-9]+$/.test(k)), 'ConfigMap keys are valid');
  assert.equal(cm.data['localhost..5443.ca.crt'], CA);
  assert.match(file(publicFiles, 'kubernetes/registry-trust.yaml').content, /^# [^]*--daemonset-image IMAGE/);
  const lrh = parseYaml(file(publicFiles, 'kubernetes/local-registry-hosting.yaml').content);
  assert.deepEqual([lrh.metadata.name, lrh.metadata.namespace], ['local-registry-hosting', 'kube-public']);
  assert.deepEqual(parseYaml(lrh.data['localRegistryHosting.v1']), {
    host: 'registry.example.test:5443',
    hostFromContainerRuntime: 'registry.example.test:5443',
    hostFromClusterNetwork: 'registry.example.test:5443',
    help: 'https://registry.example.test:5443/trust/',
  });
  // A loopback first address is the user's; nodes and pods get one they can reach.
  const local = renderBundle({ addresses: [addresses[1]!, addresses[0]!], caPem: CA, outDir: '/srv/trust' });
  const hosting = parseYaml(parseYaml(file(local, 'kubernetes/local-registry-hosting.yaml').content).data['localRegistryHosting.v1']);
  assert.deepEqual([hosting.host, hosting.hostFromClusterNetwork], ['localhost:5443', 'registry.example.test:5443']);
  const secret = file(withSecrets, 'kubernetes/pull-secret.yaml');
  assert.equal(secret.mode, 0o600);
  const s = parseYaml(secret.content);
  assert.equal(s.type, 'kubernetes.io/dockerconfigjson');
  const cfg = JSON.parse(Buffer.from(s.data['.dockerconfigjson'], 'base64').toString());
  assert.equal(cfg.auths['localhost:5443'].auth, Buffer.from('ci:p@ss').toString('base64'));
});

test('SHA256SUMS covers the public files; secrets are marked and 0600', () => {
  const sums = file(withSecrets, 'SHA256SUMS').content.trim().split('\n').map((l) => l.split('  '));
  for (const [hash, path] of sums) assert.equal(createHash('sha256').update(file(withSecrets, path!).content).digest('hex'), hash, path);
  const secretPaths = withSecrets.filter((f) => f.secret).map((f) => f.path);
  assert.ok(secretPaths.every((p) => !sums.some(([, q]) => q === p)), 'secrets are not listed');
  assert.ok(withSecrets.filter((f) => f.secret).every((f) => f.mode === 0o600));
  assert.ok(secretPaths.includes('kubernetes/pull-secret.yaml') && secretPaths.includes('docker/certs.d/localhost:5443/client.key'));
});

test('install.sh is valid POSIX sh and pins the CA', async () => {
  const dir = await tempDir();
  const script = file(publicFiles, 'install.sh').content;
  await writeFile(join(dir, 'install.sh'), script);
  const syntax = await exec('sh', ['-n', join(dir, 'install.sh')]);
  assert.equal(syntax.code, 0, syntax.stderr);
  assert.ok(script.includes(`CA_SHA256="${createHash('sha256').update(CA).digest('hex')}"`));
});

test('LF only: a CA read with CRLF line endings reaches no bundle file with a \\r, and install.sh pins the LF bytes', () => {
  const files = renderBundle({ addresses, caPem: CA.replace(/\n/g, '\r\n'), outDir: '/srv/trust', daemonset: { image: 'registry.example.test:5443/library/busybox:1.36', targets: ['containerd', 'k3s'] } });
  for (const f of files) assert.ok(!f.content.includes('\r'), `${f.path} has a \\r`);
  assert.equal(file(files, 'containerd/certs.d/localhost:5443/ca.crt').content, CA);
  assert.ok(file(files, 'install.sh').content.includes(`CA_SHA256="${createHash('sha256').update(CA).digest('hex')}"`));
});

test('tarballs are deterministic', async () => {
  const a = await tarball(publicFiles);
  const b = await tarball(renderBundle({ addresses, caPem: CA, outDir: '/srv/trust' }));
  assert.ok(a.equals(b));
  const dir = await tempDir();
  await writeFile(join(dir, 'b.tar.gz'), a);
  const list = await exec('tar', ['-tzvf', join(dir, 'b.tar.gz')]);
  assert.match(list.stdout, /-rwxr-xr-x 0\/0 .* 1970-01-01 00:00 registry-trust\/install\.sh/);
});

test('the node setup command pins the CA and prefers an address other machines can reach', async () => {
  const { createTrust } = await import('../../src/trust/endpoint.js');
  const trust = await createTrust(CA, [parseAddress('localhost:5443'), parseAddress('127.0.0.1:5443'), parseAddress('registry.example.test:5443')]);
  assert.equal(trust.caSha256, createHash('sha256').update(CA).digest('hex'));
  // The short command (what is printed and logged): the CA checked in a variable, then /trust/setup over verified TLS.
  const short = trust.commands[0]!;
  assert.ok(short.startsWith("sh -c 'c=$(curl -fsSk https://registry.example.test:5443/trust/ca.crt)||exit;"), short);
  assert.ok(short.includes(`sha256sum)" = "${trust.caSha256}  -" ]||`), short);
  assert.ok(short.includes('curl -fsS --cacert /dev/stdin https://registry.example.test:5443/trust/setup)&&'), short);
  assert.equal(short.split("'").length, 3, short);
  // The long, self-contained one (/trust/ and --long-setup).
  const first = trust.longCommands[0]!;
  assert.match(first, /^sh -c 'f=\$\(mktemp\) && s=\$\(mktemp\) .*' setup$/);
  assert.ok(first.includes('curl -fsSk https://registry.example.test:5443/trust/ca.crt -o "$f"'), first);
  assert.ok(first.includes(`echo "${trust.caSha256}  $f" | sha256sum -c --status ||`), first);
  assert.ok(first.includes('curl -fsS --cacert "$f" https://registry.example.test:5443/trust/install.sh -o "$s"'), first);
  // One sh -c: no single quote inside may end it early.
  assert.equal(first.split("'").length, 3, first);
  assert.equal(trust.commands.length, 3);
  assert.equal(trust.longCommands.length, 3);
});
