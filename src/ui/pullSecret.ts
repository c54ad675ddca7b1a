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

// A Secret's name: an RFC 1123 subdomain.
const SECRET_NAME = /^(?=.{1,253}$)[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;

/** ?namespace= (default: default) and ?name= (default: the bundle's Secret name). */
export function secretParams(query: URLSearchParams): { namespace: string; name: string } {
  checkParams(query, ['namespace', 'name']);
  const ns = query.get('namespace') ?? 'default';
  if (!NAMESPACE.test(ns)) {
    throw new UiError(400, 'BAD_PARAMETER', `'namespace' must be a Kubernetes namespace name (lower-case letters, digits and -, at most 63), not '${ns.slice(0, 64)}'`);
  }
  const name = query.get('name') ?? PULL_SECRET_NAME;
  if (!SECRET_NAME.test(name)) {
    throw new UiError(400, 'BAD_PARAMETER',
      `'name' must be a Secret name (lower-case letters, digits, - and ., at most 253), not '${name.slice(0, 254)}'`);
  }
  return { namespace: ns, name };
}

/** host[:port] as clients write it, as an Address (the bundle's type). */
function addressOf(registry: string): Address {
  const url = new URL(`https://${registry}`);
  return { host: url.hostname, port: Number(url.port || 443), name: url.host };
}

/** The Secret `gateway bundle --pull-secret` writes, in `namespace`: one auths entry per address nodes may use. */
export function pullSecretYaml(
  registries: readonly string[], user: string, password: string, namespace: string, name = PULL_SECRET_NAME,
): string {
  const files = kubernetesFiles({ addresses: registries.map(addressOf), caPem: '', hostsToml: () => '', pullSecret: { user, password } });
  const doc = parseDocument(files.find((f) => f.path === 'kubernetes/pull-secret.yaml')!.content).toJS() as { metadata: Record<string, string> };
  doc.metadata = { name, namespace };
  return stringify(doc, { lineWidth: 0 });
}
