// A node trust bundle as data: every file with its path, content and mode.
// Pure: the caller decides whether it goes to a directory, a tarball or an
// HTTP response. YAML and TOML come from their libraries.
import { createHash } from 'node:crypto';
import { stringify as toToml } from 'smol-toml';
import { stringify as toYaml } from 'yaml';
import type { Address } from './address.js';
import { installScript } from './installScript.js';
import { kubernetesFiles, type DaemonSetOptions } from './kubernetes.js';
import { normalizePem } from '../certs/trustSet.js';

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
  /** The DaemonSet in kubernetes/registry-trust.yaml: only with an image the user names. */
  daemonset?: DaemonSetOptions;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const yaml = (doc: unknown) => toYaml(doc, { lineWidth: 0 });

function containerdHosts(a: Address, client: boolean): string {
  const url = `https://${a.name}`;
  const host: Record<string, unknown> = {
    capabilities: ['pull', 'resolve', 'push'],
    // Relative to this file: the same hosts.toml works in the bundle,
    // under /etc/containerd/certs.d and in a kind node.
    ca: 'ca.crt',
    ...(client ? { client: [['client.cert', 'client.key']] } : {}),
  };
  // The host entry as an inline table under [host], not as a [host."https://…"] header:
  // containerd 1.6 and 1.7 read hosts.toml with go-toml v1, which refuses a ']' inside a
  // quoted header key ([host."https://[::1]:5443"]) and then ignores the whole file.
  // Each piece is still written by the TOML library.
  const one = (key: string, value: unknown) => toToml({ [key]: value }).trim();
  const inline = Object.entries(host).map(([k, v]) => one(k, v)).join(', ');
  return `${toToml({ server: url })}
[host]
${one(url, 0).replace(/ = 0$/, '')} = { ${inline} }
`;
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

// kind: each node mounts each address's directory, read-only, so that
// /etc/containerd/certs.d stays writable for kind's own registry recipe and
// the DaemonSet. One list, shared by every node of the config (a YAML anchor).
function kindConfig(input: BundleInput): string {
  const mounts = input.addresses.map((a) => ({
    hostPath: `${input.outDir}/containerd/certs.d/${a.name}`, containerPath: `/etc/containerd/certs.d/${a.name}`, readOnly: true,
  }));
  const header = `# kind create cluster --config cluster.yaml
# Every node mounts containerd/certs.d/ADDR of this bundle at
# /etc/containerd/certs.d/ADDR. hostPath is where the bundle is on the machine
# that runs kind (kind mounts from there into its node containers): made for
# ${input.outDir}. Moved or unpacked elsewhere? Change the hostPath lines.
# A node you add needs the same mounts: give it "extraMounts: *mounts".
`;
  const doc = {
    kind: 'Cluster', apiVersion: 'kind.x-k8s.io/v1alpha4',
    containerdConfigPatches: [`[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"`],
    nodes: [{ role: 'control-plane', extraMounts: mounts }, { role: 'worker', extraMounts: mounts }],
  };
  // The yaml library names the shared list a1: name it for what it is.
  return header + toYaml(doc, { lineWidth: 0 }).replace(/&a1\b/, '&mounts').replace(/\*a1\b/g, '*mounts');
}

export function renderBundle(raw: BundleInput): BundleFile[] {
  // LF only: the CA reaches shells, ConfigMaps and hashes as it is here.
  const input = { ...raw, caPem: normalizePem(raw.caPem) };
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
  files.push({ path: 'kind/cluster.yaml', mode: 0o644, content: kindConfig(input) });
  files.push({
    path: 'k3d/config.yaml', ...secretMode,
    content: yaml({
      apiVersion: 'k3d.io/v1alpha5', kind: 'Simple',
      registries: { config: registries },
      volumes: [{ volume: `${input.outDir}/k3s/certs.d:${K3S_CA_DIR}`, nodeFilters: ['all'] }],
    }),
  });
  for (const f of kubernetesFiles({ ...input, hostsToml: (a) => containerdHosts(a, false) })) {
    files.push({ path: f.path, content: f.content, ...(f.secret ? { mode: 0o600, secret: true } : { mode: 0o644 }) });
  }
  files.push({
    path: 'install.sh', mode: 0o755,
    content: installScript({
      addresses: input.addresses.map((a) => a.name),
      caSha256: sha256(input.caPem),
      hostsToml: Object.fromEntries(input.addresses.map((a) => [a.name, containerdHosts(a, false)])),
      // Embedded for a piped run: no credentials, and no client certificate
      // (a piped run may not have it); the bundle's own file is used when
      // everything it names is installed.
      registriesYaml: registriesYaml({ ...input, pullSecret: undefined, client: undefined }, K3S_CA_DIR),
      k3sCaDir: K3S_CA_DIR,
      ...(client ? { clientNode: client.node } : {}),
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

Piped (curl ... | sh -s -- ...), install.sh finds client certificates and
credentials only with --bundle DIR; without them it installs the CA alone and
says what it left out.

Clusters: kind/cluster.yaml (kind create cluster --config ...) mounts each
containerd/certs.d/ADDR of this bundle into every node (hostPath: this bundle
at ${input.outDir}; change it if you move the bundle); k3d/config.yaml
(k3d cluster create --config ...) mounts k3s/certs.d and sets registries.yaml.
kubernetes/registry-trust.yaml is a ConfigMap with the CA${input.daemonset
  ? `, and a DaemonSet (${input.daemonset.image})
that keeps it in ${input.daemonset.targets.join(', ')} certs.d on every node; it needs a namespace
whose Pod Security level is privileged (hostPath volumes), and is Ready only
where containerd's config_path includes /etc/containerd/certs.d`
  : `; with gateway bundle
--daemonset-image IMAGE it also holds a DaemonSet that copies it onto every node`}.
kubernetes/local-registry-hosting.yaml announces the registry (KEP-1755).
${credentials}${clientKeys}
SHA256SUMS lists the public files; check them with: sha256sum -c SHA256SUMS
`;
}
