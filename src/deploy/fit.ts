// What fits the generated kustomization to the way a team deploys: the
// exposure (exposure.ts), Secrets that already exist (cert-manager's
// kubernetes.io/tls, External Secrets) or none written at all (GitOps), the
// ServiceMonitor's `release` label, a PriorityClass, the recommended labels,
// the egress rule to an existing registry. Kustomization lines as data, kept
// apart from render.ts's own.
import { jsonPatch as patch, type Exposure } from './exposure.js';
import { fail } from '../errors.js';
import { OBJECTS, type Overlay } from './layout.js';

export interface Fit {
  expose?: Exposure | undefined;
  /** An existing Secret for the certificates: kubernetes.io/tls (tls.crt, tls.key, ca.crt when the issuer gives one). */
  tlsSecret?: string | undefined;
  /** An existing Secret whose key `htpasswd` is the users file (External Secrets, sealed secrets). */
  usersSecret?: string | undefined;
  /** No secret data in the directory: every Secret is created some other way, by name. */
  gitops?: boolean;
  /** The ServiceMonitor's `release` label (kube-prometheus-stack selects by its Helm release). */
  serviceMonitorRelease?: string | undefined;
  priorityClassName?: string | undefined;
  /** existing-registry: the egress rule's selector, port and namespace. */
  registryEgress?: { labels: Record<string, string>; port: number; namespace?: string | undefined } | undefined;
}

/** Mount paths of the Secret keys when the TLS Secret is a kubernetes.io/tls one. */
export const TLS_SECRET_FILES = { cert: 'tls.crt', key: 'tls.key' } as const;

export const GITOPS_NOTE = '# --gitops: no secretGenerator. The Secrets named in the Deployment are created\n' +
  '# by your own means (External Secrets, sealed secrets, SOPS) before this applies.';

/** Volume indexes of base/gateway-deployment.yaml (config, tls, users, token). */
const VOLUME = { tls: 1, users: 2 } as const;
const volumeSecret = (index: number) => `/spec/template/spec/volumes/${index}/secret/secretName`;

export function fitComponents(fit: Fit | undefined): string[] {
  return fit?.expose ? [fit.expose.component] : [];
}

/**
 * The recommended labels on every object and pod template, never in
 * selectors (a selector is immutable: a new version would orphan the pods).
 * The instance is the namespace: one gateway per namespace.
 */
export function fitLabels(version: string, namespace: string): string[] {
  return [
    'labels:',
    '  - pairs:',
    `      app.kubernetes.io/instance: ${JSON.stringify(namespace)}`,
    `      app.kubernetes.io/version: ${JSON.stringify(version)}`,
    '      app.kubernetes.io/managed-by: gateway-deploy-kubernetes',
    '    includeSelectors: false',
    '    includeTemplates: true',
  ];
}

export function fitPatches(fit: Fit | undefined): string[] {
  if (!fit) return [];
  const lines: string[] = [];
  if (fit.expose) lines.push(`  # --expose ${fit.expose.kind}=${fit.expose.address}`, ...fit.expose.patches);
  if (fit.tlsSecret !== undefined) {
    lines.push(`  # --tls-secret: the certificates from the existing Secret ${fit.tlsSecret}`,
      ...patch('Deployment', OBJECTS.deployment, [{ op: 'replace', path: volumeSecret(VOLUME.tls), value: fit.tlsSecret }]));
  }
  if (fit.usersSecret !== undefined) {
    lines.push(`  # --users-secret: the users file from the existing Secret ${fit.usersSecret} (key htpasswd)`,
      ...patch('Deployment', OBJECTS.deployment, [{ op: 'replace', path: volumeSecret(VOLUME.users), value: fit.usersSecret }]));
  }
  if (fit.priorityClassName !== undefined) {
    lines.push('  # --priority-class',
      ...patch('Deployment', OBJECTS.deployment, [
        { op: 'add', path: '/spec/template/spec/priorityClassName', value: fit.priorityClassName },
      ]));
  }
  if (fit.serviceMonitorRelease !== undefined) {
    lines.push('  # --servicemonitor-release: the label the Prometheus Operator\'s serviceMonitorSelector matches',
      ...patch('ServiceMonitor', 'registry-gateway', [{ op: 'add', path: '/metadata/labels/release', value: fit.serviceMonitorRelease }]));
  }
  if (fit.registryEgress) {
    const { labels, port, namespace } = fit.registryEgress;
    const inNamespace = namespace ? { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } } } : {};
    const to = { podSelector: { matchLabels: labels }, ...inNamespace };
    lines.push('  # The gateway pods may reach the existing registry (--registry-selector, --upstream\'s port and namespace).',
      ...patch('NetworkPolicy', 'registry-gateway-egress', [
        { op: 'replace', path: '/spec/egress/2', value: { to: [to], ports: [{ port, protocol: 'TCP' }] } },
      ]));
  }
  return lines;
}

/**
 * Pod Security labels, always rendered. with-registry owns its namespace,
 * so every pod in it is held to the restricted level; existing-registry may
 * share the registry's namespace, whose pods we do not know, and `default`
 * holds whatever else runs there: warn and audit only in those.
 */
export function namespaceModes(ns: string, overlay: Overlay): string[] {
  return overlay === 'with-registry' && ns !== 'default' ? ['enforce', 'warn', 'audit'] : ['warn', 'audit'];
}

const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** The names the fit flags give, checked as the API server will. */
export function parseFitNames(o: {
  tlsSecret?: string; usersSecret?: string; servicemonitorRelease?: string; priorityClass?: string; servicemonitor?: boolean;
}):
  Pick<Fit, 'tlsSecret' | 'usersSecret' | 'serviceMonitorRelease' | 'priorityClassName'> {
  const name = (flag: string, v: string | undefined, what: string) => {
    if (v !== undefined && (v.length > 253 || !SUBDOMAIN.test(v))) {
      fail('INVALID_ARGUMENT', `invalid ${flag} '${v}': ${what} is a lower-case DNS name (letters, digits, '-', '.'), ` +
        'e.g. registry-gateway-tls');
    }
    return v;
  };
  if (o.servicemonitorRelease !== undefined && !LABEL_VALUE.test(o.servicemonitorRelease)) {
    fail('INVALID_ARGUMENT', `invalid --servicemonitor-release '${o.servicemonitorRelease}': a label value, e.g. kube-prometheus-stack`);
  }
  if (o.servicemonitorRelease !== undefined && !o.servicemonitor) {
    fail('INVALID_ARGUMENT', '--servicemonitor-release labels the ServiceMonitor: add --servicemonitor');
  }
  return {
    tlsSecret: name('--tls-secret', o.tlsSecret, 'a Secret name'),
    usersSecret: name('--users-secret', o.usersSecret, 'a Secret name'),
    serviceMonitorRelease: o.servicemonitorRelease,
    priorityClassName: name('--priority-class', o.priorityClass, 'a PriorityClass name'),
  };
}

/** What must exist in the namespace when nothing secret is written (--gitops): name (keys). */
export function neededSecrets(overlay: Overlay, fit: Pick<Fit, 'tlsSecret' | 'usersSecret'>, authMode: string, single = false): string[] {
  return [
    fit.tlsSecret !== undefined
      ? `${fit.tlsSecret} (kubernetes.io/tls: tls.crt, tls.key, ca.crt)`
      : `${OBJECTS.tls} (server.crt, server.key, ca.crt)`,
    ...(authMode === 'none' ? [] : [`${fit.usersSecret ?? OBJECTS.users} (htpasswd)`]),
    ...(authMode === 'token' ? [`${OBJECTS.token} (token.key, token.crt)`] : []),
    ...(overlay === 'with-registry' ? [`${OBJECTS.registrySecret} (secret)`] : []),
    ...(single ? [] : [`${OBJECTS.redisSecret} (password: the bundled Redis's, read by the gateway too)`]),
    ...(overlay === 'with-registry'
      ? [`${OBJECTS.upstreamSecret} (password: the gateway's credential for the registry)`,
        `${OBJECTS.registryAuth} (htpasswd: that credential, bcrypt, for the registry)`]
      : []),
  ];
}
