// GET /ui/api/pull-secret: a kubernetes.io/dockerconfigjson Secret for the
// logged-in user, in the bundle's own format (bundle/kubernetes.ts). In token
// mode it holds a pull token (pull only, ends with the password and after
// refreshTtl), never the password; in htpasswd mode it would have to hold
// the password, so the server sends none and the browser fills in what the
// user types there.
import { parseDocument, stringify } from 'yaml';
import { kubernetesFiles } from '../bundle/kubernetes.js';
import type { Address } from '../bundle/address.js';
import { UiError } from './reply.js';
import { checkParams } from './params.js';
import { PULL_SECRET_NAME } from './setup.js';

// A Kubernetes namespace: an RFC 1123 label.
const NAMESPACE = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;

export function namespaceParam(query: URLSearchParams): string {
  checkParams(query, ['namespace']);
  const ns = query.get('namespace') ?? 'default';
  if (!NAMESPACE.test(ns)) {
    throw new UiError(400, 'BAD_PARAMETER', `'namespace' must be a Kubernetes namespace name (lower-case letters, digits and -, at most 63), not '${ns.slice(0, 64)}'`);
  }
  return ns;
}

/** host[:port] as clients write it, as an Address (the bundle's type). */
function addressOf(registry: string): Address {
  const url = new URL(`https://${registry}`);
  return { host: url.hostname, port: Number(url.port || 443), name: url.host };
}

/** The Secret `gateway bundle --pull-secret` writes, in `namespace`. */
export function pullSecretYaml(registry: string, user: string, password: string, namespace: string): string {
  const files = kubernetesFiles({ addresses: [addressOf(registry)], caPem: '', hostsToml: () => '', pullSecret: { user, password } });
  const doc = parseDocument(files.find((f) => f.path === 'kubernetes/pull-secret.yaml')!.content).toJS() as { metadata: Record<string, string> };
  doc.metadata = { name: PULL_SECRET_NAME, namespace };
  return stringify(doc, { lineWidth: 0 });
}
