// The bundle's Kubernetes objects: the trust ConfigMap and (with an image the
// user names) the DaemonSet that copies it onto every node, the KEP-1755
// ConfigMap, and the pull secret. Objects are data, written by the YAML
// library; test/unit/bundle-kubernetes.test.ts validates them against the
// Kubernetes schemas.
import { stringify as toYaml } from 'yaml';
import type { Address } from './address.js';
import { containerdCheckSh } from './containerdCheck.js';
import { NODE_TARGETS, type NodeTarget } from './nodeTargets.js';

export { DEFAULT_TARGETS, NODE_TARGETS, type NodeTarget } from './nodeTargets.js';

const yaml = (doc: unknown) => toYaml(doc, { lineWidth: 0, aliasDuplicateObjects: false });


export interface DaemonSetOptions {
  /** An image with a POSIX sh, awk, sed, cmp, cp and mv (busybox), that nodes can already pull. */
  image: string;
  targets: NodeTarget[];
}

export interface KubernetesInput {
  addresses: Address[];
  caPem: string;
  daemonset?: DaemonSetOptions;
  pullSecret?: { user: string; password: string };
  /** hosts.toml for an address, without client certificates (a ConfigMap is not secret). */
  hostsToml: (a: Address) => string;
}

export interface K8sFile { path: string; content: string; secret?: boolean }

const NAME = 'registry-gateway-trust';
// ConfigMap keys allow [-._a-zA-Z0-9] only: no ':' (OpenShift's node-ca uses '..').
const keyOf = (a: Address) => a.name.replace(/:/g, '..').replace(/[[\]]/g, '');
const isLoopback = (a: Address) => a.host === 'localhost' || a.host.startsWith('127.') || a.host === '[::1]';
const volumeName = (t: NodeTarget) => `certs-${t}`;

// The DaemonSet's loop: a file is rewritten only when it differs (by
// temporary file and rename, so a runtime never reads half of one), and the
// pod is Ready only when the node's containerd reads /etc/containerd/certs.d:
// a node whose config.toml turns it off shows as not Ready, with the fix in
// the pod's log, instead of silently ignoring what was copied.
function loop(input: KubernetesInput, targets: NodeTarget[]): string {
  const copies = input.addresses.flatMap((a) => targets.flatMap((t) => {
    const dir = `/host${NODE_TARGETS[t].dir}/${a.name}`;
    return [
      `put /trust/${keyOf(a)}.ca.crt "${dir}/ca.crt"`,
      ...(NODE_TARGETS[t].hostsToml ? [`put /trust/${keyOf(a)}.hosts.toml "${dir}/hosts.toml"`] : []),
    ];
  }));
  const check = targets.includes('containerd')
    ? [
      '  advice=$(containerd_check /host/etc/containerd/config.toml "")',
      '  if [ $? -eq 1 ]; then rm -f /run/state/ready; else touch /run/state/ready; fi',
      // Paths as the node names them, not the container.
      '  advice=$(printf "%s\\n" "$advice" | sed "s#/host/#/#g")',
      '  if [ "$advice" != "$said" ]; then [ -z "$advice" ] || echo "$advice"; said=$advice; fi',
    ]
    : ['  touch /run/state/ready'];
  return [
    containerdCheckSh.trim(),
    'put() { # SRC DEST',
    '  cmp -s "$1" "$2" && return 0',
    '  mkdir -p "$(dirname "$2")" && cp "$1" "$2.tmp" && mv -f "$2.tmp" "$2" && echo "wrote $2"',
    '}',
    'said=""',
    'while true; do',
    ...copies.map((c) => `  ${c}`),
    ...check,
    '  sleep 60',
    'done',
  ].join('\n');
}

function daemonSet(input: KubernetesInput, ds: DaemonSetOptions): Record<string, unknown> {
  const labels = { app: NAME };
  const mounts = [
    { name: 'trust', mountPath: '/trust', readOnly: true },
    { name: 'state', mountPath: '/run/state' },
    // config.toml, read only: the container checks config_path, never edits it.
    ...(ds.targets.includes('containerd') ? [{ name: 'etc-containerd', mountPath: '/host/etc/containerd', readOnly: true }] : []),
    ...ds.targets.map((t) => ({ name: volumeName(t), mountPath: `/host${NODE_TARGETS[t].dir}` })),
  ];
  const volumes = [
    { name: 'trust', configMap: { name: NAME } },
    { name: 'state', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
    ...(ds.targets.includes('containerd') ? [{ name: 'etc-containerd', hostPath: { path: '/etc/containerd', type: 'DirectoryOrCreate' } }] : []),
    ...ds.targets.map((t) => ({ name: volumeName(t), hostPath: { path: NODE_TARGETS[t].dir, type: 'DirectoryOrCreate' } })),
  ];
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: NAME, namespace: 'kube-system', labels },
    spec: {
      selector: { matchLabels: labels },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '100%' } },
      template: {
        metadata: { labels },
        spec: {
          // Every node pulls, control plane and tainted nodes included.
          tolerations: [{ operator: 'Exists' }],
          priorityClassName: 'system-node-critical',
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 1,
          // Root, to write the root-owned host directories, and nothing more:
          // no capabilities (the directories are root's own), no privilege
          // escalation, a read-only image, the runtime's seccomp profile.
          securityContext: { runAsUser: 0, runAsGroup: 0, runAsNonRoot: false, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [{
            name: 'install',
            image: ds.image,
            imagePullPolicy: 'IfNotPresent',
            command: ['sh', '-c', loop(input, ds.targets)],
            securityContext: {
              allowPrivilegeEscalation: false,
              readOnlyRootFilesystem: true,
              privileged: false,
              capabilities: { drop: ['ALL'] },
            },
            readinessProbe: { exec: { command: ['cat', '/run/state/ready'] }, periodSeconds: 10 },
            volumeMounts: mounts,
            resources: { requests: { cpu: '1m', memory: '8Mi' }, limits: { memory: '32Mi' } },
          }],
          volumes,
        },
      },
    },
  };
}

const TRUST_HEADER = (ds?: DaemonSetOptions) => ds
  ? `# The CA and hosts.toml for every registry address, and a DaemonSet (image
# ${ds.image}) that keeps them on every node in: ${ds.targets.map((t) => NODE_TARGETS[t].dir).join(', ')}.
# Its hostPath volumes need a namespace whose Pod Security level is
# "privileged": "baseline" and "restricted" forbid hostPath. kube-system is
# usually not enforced; elsewhere label the namespace
# pod-security.kubernetes.io/enforce=privileged. The pod is Ready only where
# containerd reads /etc/containerd/certs.d (config_path); its log says what to
# change where it does not.
`
  : `# The CA and hosts.toml for every registry address. No DaemonSet: make the
# bundle with --daemonset-image IMAGE (an image nodes can already pull, with
# busybox's sh, awk, sed, cmp, cp and mv) to get one that copies these onto
# every node.
`;

export function kubernetesFiles(input: KubernetesInput): K8sFile[] {
  const data: Record<string, string> = {};
  for (const a of input.addresses) {
    data[`${keyOf(a)}.ca.crt`] = input.caPem;
    data[`${keyOf(a)}.hosts.toml`] = input.hostsToml(a);
  }
  const docs: unknown[] = [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: NAME, namespace: 'kube-system' }, data }];
  if (input.daemonset) docs.push(daemonSet(input, input.daemonset));
  const files: K8sFile[] = [{ path: 'kubernetes/registry-trust.yaml', content: TRUST_HEADER(input.daemonset) + docs.map(yaml).join('---\n') }];
  // KEP-1755. Nodes and pods reach the registry at a name other machines can
  // use (not loopback); help is this registry's own setup page.
  const first = input.addresses[0]!;
  const reachable = input.addresses.find((a) => !isLoopback(a)) ?? first;
  files.push({
    path: 'kubernetes/local-registry-hosting.yaml',
    content: yaml({
      apiVersion: 'v1', kind: 'ConfigMap',
      // Fixed name and namespace, read by tools that push for the cluster.
      metadata: { name: 'local-registry-hosting', namespace: 'kube-public' },
      data: {
        'localRegistryHosting.v1': yaml({
          host: first.name,
          hostFromContainerRuntime: reachable.name,
          hostFromClusterNetwork: reachable.name,
          help: `https://${reachable.name}/trust/`,
        }),
      },
    }),
  });
  if (input.pullSecret) {
    const { user, password } = input.pullSecret;
    const auth = Buffer.from(`${user}:${password}`).toString('base64');
    const auths = Object.fromEntries(input.addresses.map((a) => [a.name, { username: user, password, auth }]));
    const dockerConfig = Buffer.from(JSON.stringify({ auths })).toString('base64');
    files.push({
      path: 'kubernetes/pull-secret.yaml', secret: true,
      content: yaml({
        apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/dockerconfigjson',
        metadata: { name: 'registry-gateway-pull' }, data: { '.dockerconfigjson': dockerConfig },
      }),
    });
  }
  return files;
}
