// A node trust bundle as data: every file with its path, content and mode.
// Pure: the caller decides whether it goes to a directory, a tarball or an
// HTTP response. YAML and TOML come from their libraries.
import { createHash } from 'node:crypto';
import { stringify as toToml } from 'smol-toml';
import { stringify as toYaml } from 'yaml';
import type { Address } from './address.js';
import { installScript } from './installScript.js';

export interface BundleFile {
  path: string;
  content: string;
  mode: number;
  /** Private material: client keys, credentials. */
  secret?: boolean;
}

export interface BundleInput {
  addresses: Address[];
  caPem: string;
  /** Absolute directory the bundle will live in on the machine running kind/k3d (for their mounts). */
  outDir: string;
  client?: { certPem: string; keyPem: string; node: string };
  pullSecret?: { user: string; password: string };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const yaml = (doc: unknown) => toYaml(doc, { lineWidth: 0 });
// ConfigMap keys allow [-._a-zA-Z0-9] only: no ':' (OpenShift's node-ca uses '..').
const keyOf = (a: Address) => a.name.replace(/:/g, '..').replace(/[[\]]/g, '');

function containerdHosts(a: Address, client: boolean): string {
  return toToml({
    server: `https://${a.name}`,
    host: {
      [`https://${a.name}`]: {
        capabilities: ['pull', 'resolve', 'push'],
        // Relative to this file: the same hosts.toml works in the bundle,
        // under /etc/containerd/certs.d and in a kind node.
        ca: 'ca.crt',
        ...(client ? { client: [['client.cert', 'client.key']] } : {}),
      },
    },
  });
}

function registriesYaml(input: BundleInput, caDir: string): string {
  const mirrors: Record<string, unknown> = {};
  const configs: Record<string, unknown> = {};
  for (const a of input.addresses) {
    mirrors[a.name] = { endpoint: [`https://${a.name}`] };
    configs[a.name] = {
      tls: {
        ca_file: `${caDir}/${a.name}/ca.crt`,
        ...(input.client ? { cert_file: `${caDir}/${a.name}/client.cert`, key_file: `${caDir}/${a.name}/client.key` } : {}),
      },
      ...(input.pullSecret ? { auth: { username: input.pullSecret.user, password: input.pullSecret.password } } : {}),
    };
  }
  return yaml({ mirrors, configs });
}

// Where k3s nodes keep the CA files registries.yaml points at.
export const K3S_CA_DIR = '/etc/rancher/k3s/certs.d';

const KEP_1755 =
  'https://github.com/kubernetes/enhancements/tree/master/keps/sig-cluster-lifecycle/generic/1755-communicating-a-local-registry';

function kubernetes(input: BundleInput): BundleFile[] {
  const files: BundleFile[] = [];
  const data: Record<string, string> = {};
  for (const a of input.addresses) {
    data[`${keyOf(a)}.ca.crt`] = input.caPem;
    data[`${keyOf(a)}.hosts.toml`] = containerdHosts(a, false);
  }
  const copy = input.addresses.flatMap((a) => [
    // Temporary file and rename: a runtime never reads a half-written file.
    'for d in /host/etc/containerd/certs.d /host/etc/docker/certs.d; do ' +
      `mkdir -p "$d/${a.name}" && cp /trust/${keyOf(a)}.ca.crt "$d/${a.name}/.ca.crt.tmp" && ` +
      `mv "$d/${a.name}/.ca.crt.tmp" "$d/${a.name}/ca.crt"; done`,
    `cp /trust/${keyOf(a)}.hosts.toml "/host/etc/containerd/certs.d/${a.name}/.hosts.toml.tmp" && ` +
      `mv "/host/etc/containerd/certs.d/${a.name}/.hosts.toml.tmp" "/host/etc/containerd/certs.d/${a.name}/hosts.toml"`,
  ]);
  files.push({
    path: 'kubernetes/registry-trust.yaml',
    mode: 0o644,
    content: [
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'registry-gateway-trust', namespace: 'kube-system' }, data },
      {
        apiVersion: 'apps/v1',
        kind: 'DaemonSet',
        metadata: { name: 'registry-gateway-trust', namespace: 'kube-system', labels: { app: 'registry-gateway-trust' } },
        spec: {
          selector: { matchLabels: { app: 'registry-gateway-trust' } },
          template: {
            metadata: { labels: { app: 'registry-gateway-trust' } },
            spec: {
              // Every node pulls, control plane and tainted nodes included.
              tolerations: [{ operator: 'Exists' }],
              priorityClassName: 'system-node-critical',
              containers: [{
                name: 'install',
                image: 'busybox:1.36',
                command: ['sh', '-c', `while true; do\n${copy.join('\n')}\nsleep 60; done`],
                volumeMounts: [
                  { name: 'trust', mountPath: '/trust', readOnly: true },
                  { name: 'etc-containerd', mountPath: '/host/etc/containerd/certs.d' },
                  { name: 'etc-docker', mountPath: '/host/etc/docker/certs.d' },
                ],
                resources: { requests: { cpu: '1m', memory: '8Mi' }, limits: { memory: '32Mi' } },
              }],
              volumes: [
                { name: 'trust', configMap: { name: 'registry-gateway-trust' } },
                { name: 'etc-containerd', hostPath: { path: '/etc/containerd/certs.d', type: 'DirectoryOrCreate' } },
                { name: 'etc-docker', hostPath: { path: '/etc/docker/certs.d', type: 'DirectoryOrCreate' } },
              ],
            },
          },
        },
      },
    ].map(yaml).join('---\n'),
  });
  const first = input.addresses[0]!;
  files.push({
    path: 'kubernetes/local-registry-hosting.yaml',
    mode: 0o644,
    content: yaml({
      apiVersion: 'v1', kind: 'ConfigMap',
      // KEP-1755: fixed name and namespace, read by tools that push for the cluster.
      metadata: { name: 'local-registry-hosting', namespace: 'kube-public' },
      data: { 'localRegistryHosting.v1': yaml({ host: first.name, help: KEP_1755 }) },
    }),
  });
  if (input.pullSecret) {
    const { user, password } = input.pullSecret;
    const auth = Buffer.from(`${user}:${password}`).toString('base64');
    const auths = Object.fromEntries(input.addresses.map((a) => [a.name, { username: user, password, auth }]));
    const dockerConfig = Buffer.from(JSON.stringify({ auths })).toString('base64');
    files.push({
      path: 'kubernetes/pull-secret.yaml', mode: 0o600, secret: true,
      content: yaml({
        apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/dockerconfigjson',
        metadata: { name: 'registry-gateway-pull' }, data: { '.dockerconfigjson': dockerConfig },
      }),
    });
  }
  return files;
}

export function renderBundle(input: BundleInput): BundleFile[] {
  const files: BundleFile[] = [];
  const client = input.client;
  for (const a of input.addresses) {
    for (const root of ['docker/certs.d', 'containerd/certs.d', 'containers/certs.d', 'k3s/certs.d']) {
      files.push({ path: `${root}/${a.name}/ca.crt`, content: input.caPem, mode: 0o644 });
      if (client) {
        files.push({ path: `${root}/${a.name}/client.cert`, content: client.certPem, mode: 0o644 });
        files.push({ path: `${root}/${a.name}/client.key`, content: client.keyPem, mode: 0o600, secret: true });
      }
    }
    files.push({ path: `containerd/certs.d/${a.name}/hosts.toml`, content: containerdHosts(a, Boolean(client)), mode: 0o644 });
  }
  // config_path is off by default before containerd 2.2; the table differs between 1.x and 2.x.
  const registry = { registry: { config_path: '/etc/containerd/certs.d' } };
  files.push({
    path: 'containerd/config-1.x.toml', mode: 0o644,
    content: `version = 2\n\n${toToml({ plugins: { 'io.containerd.grpc.v1.cri': registry } })}`,
  });
  files.push({
    path: 'containerd/config-2.x.toml', mode: 0o644,
    content: `version = 3\n\n${toToml({ plugins: { 'io.containerd.cri.v1.images': registry } })}`,
  });
  const registries = registriesYaml(input, K3S_CA_DIR);
  // Credentials make a file secret (mode 0600, left out of SHA256SUMS).
  const secretMode = input.pullSecret ? { mode: 0o600, secret: true } : { mode: 0o644 };
  files.push({ path: 'k3s/registries.yaml', content: registries, ...secretMode });
  files.push({
    path: 'kind/cluster.yaml', mode: 0o644,
    content: yaml({
      kind: 'Cluster', apiVersion: 'kind.x-k8s.io/v1alpha4',
      containerdConfigPatches: [`[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"`],
      nodes: [{
        role: 'control-plane',
        extraMounts: [{ hostPath: `${input.outDir}/containerd/certs.d`, containerPath: '/etc/containerd/certs.d', readOnly: true }],
      }],
    }),
  });
  files.push({
    path: 'k3d/config.yaml', ...secretMode,
    content: yaml({
      apiVersion: 'k3d.io/v1alpha5', kind: 'Simple',
      registries: { config: registries },
      volumes: [{ volume: `${input.outDir}/k3s/certs.d:${K3S_CA_DIR}`, nodeFilters: ['all'] }],
    }),
  });
  files.push(...kubernetes(input));
  files.push({
    path: 'install.sh', mode: 0o755,
    content: installScript({
      addresses: input.addresses.map((a) => a.name),
      caSha256: sha256(input.caPem),
      hostsToml: Object.fromEntries(input.addresses.map((a) => [a.name, containerdHosts(a, false)])),
      registriesYaml: registriesYaml({ ...input, pullSecret: undefined }, K3S_CA_DIR),
      k3sCaDir: K3S_CA_DIR,
    }),
  });
  files.push({ path: 'README.txt', mode: 0o644, content: readme(input) });
  // Sorted by path: a line is the 64-digit hash, two spaces, then the path.
  const sums = files.filter((f) => !f.secret).map((f) => `${sha256(f.content)}  ${f.path}`)
    .sort((x, y) => x.slice(66).localeCompare(y.slice(66)));
  files.push({ path: 'SHA256SUMS', mode: 0o644, content: `${sums.join('\n')}\n` });
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

function readme(input: BundleInput): string {
  const names = input.addresses.map((a) => a.name).join(', ');
  // Said only when the bundle holds them.
  const credentials = input.pullSecret
    ? '\nkubernetes/pull-secret.yaml and k3s/registries.yaml hold credentials (mode 0600): keep them private.\n'
    : '';
  const clientKeys = input.client ? '\nclient.key files are private keys for mutual TLS (mode 0600): keep them private.\n' : '';
  return `Trust bundle for the registry at ${names}, made by registry-gateway.

On a node, run as root:  sh install.sh        (--dry-run shows what it would do)
It installs the CA for each runtime it finds, and tells you what to restart:

  docker      docker/certs.d/ADDR/ca.crt      -> /etc/docker/certs.d/ADDR/          read per pull: no restart
  containerd  containerd/certs.d/ADDR/        -> /etc/containerd/certs.d/ADDR/      no restart once config_path is set;
              setting config_path (containerd/config-1.x.toml or config-2.x.toml) in config.toml needs a restart
  podman, skopeo, CRI-O
              containers/certs.d/ADDR/ca.crt  -> /etc/containers/certs.d/ADDR/      read per pull: no restart
  k3s         k3s/registries.yaml             -> /etc/rancher/k3s/registries.yaml   restart k3s (or k3s-agent)
              k3s/certs.d/ADDR/               -> ${K3S_CA_DIR}/ADDR/

Clusters: kind/cluster.yaml (kind create cluster --config ...) and k3d/config.yaml
(k3d cluster create --config ...) mount this bundle's CA files into the nodes;
kubernetes/registry-trust.yaml is a ConfigMap and DaemonSet that keep the CA in
/etc/containerd/certs.d and /etc/docker/certs.d on every node;
kubernetes/local-registry-hosting.yaml announces the registry (KEP-1755).
${credentials}${clientKeys}
SHA256SUMS lists the public files; check them with: sha256sum -c SHA256SUMS
`;
}
