// How nodes and clients outside the cluster reach the gateway (`gateway
// deploy kubernetes --expose KIND=ADDRESS`). A node's kubelet and containerd
// resolve names with the node's resolv.conf, not the cluster DNS, so the
// Service name registry-gateway.NS.svc.cluster.local is no address for a
// node pull. Each exposure is a component of deploy/kubernetes/components/
// plus the patches that put the address in it; its address becomes
// gateway.yaml's publicUrl (the Location headers, the token realm, /trust/'s
// setup command) and a name the server certificate must hold.
import { isIP } from 'node:net';
import { fail } from '../errors.js';
import { isClusterName, isLoopback } from '../trust/endpoint.js';

export const EXPOSURES = ['nodeport', 'loadbalancer', 'cluster-ip', 'ingress-nginx', 'tlsroute'] as const;
export type ExposureKind = (typeof EXPOSURES)[number];

export interface Exposure {
  kind: ExposureKind;
  /** What nodes and clients connect to: a name or an IP (IPv6 without brackets). */
  host: string;
  port: number;
  /** https://HOST[:PORT], the port left out when 443. */
  publicUrl: string;
  /** HOST:PORT as docker and containerd name the registry (IPv6 in brackets). */
  address: string;
  /** The component's folder in the output directory. */
  component: string;
  /** Entries of the kustomization's patches: (YAML lines, two-space indented as list items). */
  patches: string[];
  /** How a node gets there, in a few words for the summary. */
  route: string;
}

/** NodePort's default range (kube-apiserver --service-node-port-range). */
const NODE_PORTS = [30000, 32767] as const;
export const DEFAULT_NODE_PORT = 30443;
/** The Service's HTTPS port, which a fixed cluster IP serves on. */
const SERVICE_PORT = 5443;

const EXAMPLES: Record<ExposureKind, string> = {
  nodeport: 'nodeport=192.0.2.10:30443 (a node\'s address, or a name the nodes resolve)',
  loadbalancer: 'loadbalancer=registry.example.test (the load balancer\'s DNS name or IP, port 443 unless given)',
  'cluster-ip': 'cluster-ip=10.96.0.50 (a free address in the cluster\'s Service CIDR)',
  'ingress-nginx': 'ingress-nginx=registry.example.test (the host the ingress controller answers)',
  tlsroute: 'tlsroute=registry.example.test --gateway-parent NAMESPACE/GATEWAY',
};

const usage = () => `choose one of ${EXPOSURES.map((k) => EXAMPLES[k]).join('; ')}`;

const DNS_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

function splitHostPort(text: string): { host: string; port?: number } | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+|[0-9A-Fa-f:]+:[0-9A-Fa-f:.]*))(?::(\d{1,5}))?$/.exec(text);
  if (!m) return undefined;
  const host = (m[1] ?? m[2]!).toLowerCase();
  // A bare IPv6 address has colons of its own: no port can follow it unbracketed.
  if (m[2] !== undefined && host.includes(':') && isIP(host) !== 6) return undefined;
  if (m[1] !== undefined && isIP(host) !== 6) return undefined;
  if (!host.includes(':') && isIP(host) === 0 && !DNS_NAME.test(host)) return undefined;
  return m[3] === undefined ? { host } : { host, port: Number(m[3]) };
}

/** A kustomization `patches:` entry: JSON patch operations on one object. */
export const jsonPatch = (kind: string, name: string, ops: { op: string; path: string; value: unknown }[]) => [
  '  - target:',
  `      kind: ${kind}`,
  `      name: ${name}`,
  '    patch: |-',
  ...ops.flatMap((o) => [`      - op: ${o.op}`, `        path: ${o.path}`, `        value: ${JSON.stringify(o.value)}`]),
];

/** --gateway-parent NAMESPACE/NAME[/SECTION]: the Gateway API Gateway whose TLS passthrough listener takes the route. */
export function parseGatewayParent(text: string): { namespace: string; name: string; sectionName?: string } {
  const parts = text.split('/');
  const label = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
  if (parts.length < 2 || parts.length > 3 || !parts.every((p) => label.test(p))) {
    fail('INVALID_ARGUMENT', `invalid --gateway-parent '${text}': expected NAMESPACE/GATEWAY[/LISTENER], the Gateway whose ` +
      'TLS listener (mode Passthrough) takes the route, e.g. gateway-system/public');
  }
  return { namespace: parts[0]!, name: parts[1]!, ...(parts[2] ? { sectionName: parts[2] } : {}) };
}

/** --expose KIND=ADDRESS, checked, with its component and patches. */
export function parseExpose(text: string, gatewayParent?: string): Exposure {
  const eq = text.indexOf('=');
  const kind = (eq < 0 ? text : text.slice(0, eq)) as ExposureKind;
  if (!(EXPOSURES as readonly string[]).includes(kind)) fail('INVALID_ARGUMENT', `unknown --expose '${text}': ${usage()}`);
  const where = eq < 0 ? undefined : splitHostPort(text.slice(eq + 1));
  if (!where) fail('INVALID_ARGUMENT', `--expose ${kind} needs its address: ${EXAMPLES[kind]}`);
  const { host } = where;
  const v6 = host.includes(':');
  const bare = kind === 'ingress-nginx' || kind === 'tlsroute';
  if (bare && (where.port !== undefined || isIP(host) !== 0)) {
    fail('INVALID_ARGUMENT', `--expose ${kind}: give a DNS name without a port (the controller serves 443 and routes by SNI): ` +
      EXAMPLES[kind]);
  }
  if (kind === 'cluster-ip' && (isIP(host) === 0 || where.port !== undefined)) {
    fail('INVALID_ARGUMENT', `--expose cluster-ip takes an IP address and no port (the Service's port is ${SERVICE_PORT}): ` +
      EXAMPLES[kind]);
  }
  const port = kind === 'nodeport' ? where.port ?? DEFAULT_NODE_PORT : kind === 'cluster-ip' ? SERVICE_PORT : where.port ?? 443;
  if (kind === 'nodeport' && (port < NODE_PORTS[0] || port > NODE_PORTS[1])) {
    fail('INVALID_ARGUMENT', `--expose nodeport: port ${port} is outside the NodePort range ${NODE_PORTS.join('-')}; ` +
      `e.g. ${EXAMPLES.nodeport}`);
  }
  if (port < 1 || port > 65535) fail('INVALID_ARGUMENT', `--expose ${kind}: port ${port} is not 1 to 65535`);
  if (kind === 'tlsroute' && gatewayParent === undefined) {
    fail('INVALID_ARGUMENT', '--expose tlsroute needs --gateway-parent NAMESPACE/GATEWAY: ' +
      'the Gateway API Gateway with a TLS listener in Passthrough mode');
  }
  if (kind !== 'tlsroute' && gatewayParent !== undefined) fail('INVALID_ARGUMENT', '--gateway-parent is for --expose tlsroute');
  const hostText = v6 ? `[${host}]` : host;
  const address = `${hostText}:${port}`;
  const publicUrl = `https://${hostText}${port === 443 ? '' : `:${port}`}`;
  const base = { kind, host, port, publicUrl, address, component: `components/expose-${kind}` };
  switch (kind) {
    case 'nodeport':
      return { ...base, route: `NodePort ${port} of every node (kube-proxy); ${host} must be a node's address or a name the nodes resolve`,
        patches: jsonPatch('Service', 'registry-gateway-public', [{ op: 'replace', path: '/spec/ports/0/nodePort', value: port }]) };
    case 'loadbalancer':
      return { ...base, route: `the LoadBalancer Service's address ${host}, port ${port}`,
        patches: jsonPatch('Service', 'registry-gateway-public', [{ op: 'replace', path: '/spec/ports/0/port', value: port }]) };
    case 'cluster-ip':
      return { ...base, route: 'the Service\'s fixed cluster IP, which kube-proxy serves on every node ' +
        '(the pattern of kind\'s and k3d\'s local registries)',
        patches: jsonPatch('Service', 'registry-gateway', [{ op: 'add', path: '/spec/clusterIP', value: host },
          { op: 'add', path: '/spec/clusterIPs', value: [host] }]) };
    case 'ingress-nginx':
      return { ...base, route: `ingress-nginx (started with --enable-ssl-passthrough) at ${host}:443, TLS passed through to the gateway`,
        patches: jsonPatch('Ingress', 'registry-gateway', [{ op: 'replace', path: '/spec/rules/0/host', value: host }]) };
    case 'tlsroute': {
      const parent = parseGatewayParent(gatewayParent!);
      return { ...base, route: `the Gateway ${parent.namespace}/${parent.name} at ${host}:443, TLS passed through (TLSRoute)`,
        patches: jsonPatch('TLSRoute', 'registry-gateway', [{ op: 'replace', path: '/spec/hostnames', value: [host] },
          { op: 'replace', path: '/spec/parentRefs', value: [parent] }]) };
    }
  }
}

/**
 * The address nodes pull from: the exposure's, else publicUrl's when a node
 * can resolve and reach it; a warning when there is none.
 */
export function nodeAddress(expose: Exposure | undefined, publicUrl: string | undefined, namespace: string):
  { address?: string; route?: string; warning?: string } {
  if (expose) return { address: expose.address, route: expose.route };
  const choose = 'choose one with --expose nodeport=NODE_ADDRESS[:30443], loadbalancer=ADDRESS, cluster-ip=IP, ' +
    'ingress-nginx=HOST or tlsroute=HOST (deploy/kubernetes/README.md, Exposure)';
  if (publicUrl === undefined) {
    return {
      warning: `no address the nodes can reach: registry-gateway.${namespace}.svc.cluster.local resolves only in pods (the kubelet ` +
        `and containerd resolve names with the node's resolv.conf, not the cluster DNS) and the Service is ClusterIP only; ${choose}`,
    };
  }
  const url = new URL(publicUrl);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isClusterName(host) || isLoopback(host)) {
    const why = isLoopback(host) ? 'loopback' : 'a name only the cluster DNS resolves';
    return { warning: `publicUrl ${publicUrl} is no address for nodes (${why}); ${choose}` };
  }
  return { address: `${url.hostname}:${url.port || '443'}`, route: 'publicUrl of the config (nodes must resolve and reach it)' };
}
