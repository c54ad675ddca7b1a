// The directory `gateway deploy kubernetes` writes, as data: the shipped base,
// the chosen overlay and the components copied in, and around them a
// kustomization that generates the ConfigMap and Secrets from the files beside
// it. Self-contained: `kubectl apply -k DIR` works from anywhere, with no
// reference back to this checkout.
import { fail } from '../errors.js';
import { KILL_MARGIN, MARKER, OBJECTS, OUT, SECRET_FOLDERS, type Overlay } from './layout.js';
import type { ImageRef } from './inputs.js';
import { fitComponents, fitLabels, fitPatches, GITOPS_NOTE, namespaceModes, type Fit } from './fit.js';

export interface ShippedFile {
  /** Relative to deploy/kubernetes/. */
  path: string;
  content: string;
}

export interface OutFile {
  path: string;
  content: string | Buffer;
  mode: number;
}

export interface RenderInput {
  version: string;
  overlay: Overlay;
  namespace: string;
  image: ImageRef;
  shipped: readonly ShippedFile[];
  /** The in-container gateway.yaml. */
  config: string;
  shutdown: { delay: number; grace: number };
  /** Secret inputs, by path inside the directory (certs/server.key, users/htpasswd, ...). */
  secrets: readonly OutFile[];
  /** tls.clientCA's certificate (client-ca/ca.crt), when the TLS Secret's ca.crt is not it: a ConfigMap of its own. */
  clientCA?: OutFile | undefined;
  /** existing-registry: the registry pods' labels. */
  registrySelector?: Record<string, string> | undefined;
  single: boolean;
  serviceMonitor: boolean;
  /** What the rest of the kustomization gets from the deploy-fit options (fit.ts). */
  fit?: Fit;
}

const q = (s: string) => JSON.stringify(s); // a JSON string is a YAML string

/** Which shipped files the directory holds: the base, the one overlay, every component. */
export function shippedFor(overlay: Overlay, shipped: readonly ShippedFile[]): ShippedFile[] {
  return shipped.filter((f) => f.path.startsWith('base/') || f.path.startsWith(`overlays/${overlay}/`) || f.path.startsWith('components/'));
}

function generator(name: string, files: readonly string[], stable: boolean): string {
  return `  - name: ${name}\n    files:\n${files.map((f) => `      - ${f}\n`).join('')}` +
    (stable ? '    options:\n      disableNameSuffixHash: true\n' : '');
}

function namespaceObject(ns: string, overlay: Overlay): string {
  const modes = namespaceModes(ns, overlay);
  return 'apiVersion: v1\nkind: Namespace\nmetadata:\n' +
    `  name: ${q(ns)}\n  labels:\n` +
    modes.map((m) => `    pod-security.kubernetes.io/${m}: restricted\n`).join('');
}

export function kustomization(input: RenderInput): string {
  const files = (folder: string) => input.secrets.filter((s) => s.path.startsWith(`${folder}/`)).map((s) => s.path);
  const tls = files(OUT.certs);
  const users = files(OUT.users);
  const token = files(OUT.token);
  const registry = files(OUT.registry);
  const redis = files(OUT.redis);
  const upstream = files(OUT.upstream);
  const registryAuth = files(OUT.registryAuth);
  const components = [...(input.single ? ['components/single'] : []), ...(input.serviceMonitor ? ['components/servicemonitor'] : []),
    ...fitComponents(input.fit)];
  const gitops = input.fit?.gitops === true;
  const grace = input.shutdown.delay + input.shutdown.grace + KILL_MARGIN;
  const { newName, newTag, digest } = input.image;
  const lines = [
    `${MARKER} (registry-gateway ${input.version}).`,
    '# Apply it with `kubectl apply -k <this directory>`. After a change to the',
    '# certificates, the users or gateway.yaml, run the command again with --force',
    '# and apply: the Secrets are replaced in place (the gateways reload them',
    '# within about a minute, no restart), a changed gateway.yaml rolls the pods.',
    'apiVersion: kustomize.config.k8s.io/v1beta1',
    'kind: Kustomization',
    `namespace: ${q(input.namespace)}`,
    'resources:',
    '  - namespace.yaml',
    `  - overlays/${input.overlay}`,
    ...(components.length > 0 ? ['components:', ...components.map((c) => `  - ${c}`)] : []),
    ...(input.serviceMonitor ? [] : ['# With the Prometheus Operator, add components/servicemonitor under components:']),
    '# `kustomize edit set image registry-gateway=REGISTRY/registry-gateway:TAG` retargets it.',
    'images:',
    '  - name: registry-gateway',
    `    newName: ${q(newName)}`,
    ...(newTag ? [`    newTag: ${q(newTag)}`] : []),
    ...(digest ? [`    digest: ${q(digest)}`] : []),
    ...fitLabels(input.version, input.namespace),
    'generatorOptions:',
    '  labels:',
    '    app.kubernetes.io/part-of: registry-gateway',
    '# A new name per content: a changed gateway.yaml rolls the Deployment.',
    'configMapGenerator:',
    generator(OBJECTS.config, [`${OUT.config}/gateway.yaml`], false).trimEnd(),
    // Public, so kept with --gitops; a fixed name, swapped in place: the gateway reloads tls.clientCA.
    ...(input.clientCA ? [generator(OBJECTS.clientCA, [input.clientCA.path], true).trimEnd()] : []),
    '# Fixed names, replaced in place: the kubelet swaps the mounted files and the',
    '# gateway reloads them (certificates, CA, users, token keys) without a restart.',
    ...(gitops ? [GITOPS_NOTE] : [
      'secretGenerator:',
      ...(tls.length > 0 ? [generator(OBJECTS.tls, tls, true).trimEnd()] : []),
      ...(users.length > 0 ? [generator(OBJECTS.users, users, true).trimEnd()] : []),
      ...(token.length > 0 ? [generator(OBJECTS.token, token, true).trimEnd()] : []),
      // distribution reads it once, at start: a new one (new name) restarts the registry.
      ...(registry.length > 0 ? [generator(OBJECTS.registrySecret, registry.map((p) => `secret=${p}`), false).trimEnd()] : []),
      // Redis reads its password at start, the gateway too: a new one (new name) restarts both.
      ...(redis.length > 0 ? [generator(OBJECTS.redisSecret, redis, false).trimEnd()] : []),
      // The hop to the registry (read at start on both sides): a new credential restarts both.
      ...(upstream.length > 0 ? [generator(OBJECTS.upstreamSecret, upstream, false).trimEnd()] : []),
      ...(registryAuth.length > 0 ? [generator(OBJECTS.registryAuth, registryAuth, false).trimEnd()] : []),
    ]),
    'patches:',
    `  # shutdown.delay + shutdown.grace of gateway.yaml (${input.shutdown.delay} + ${input.shutdown.grace}), plus ${KILL_MARGIN}`,
    '  - target:',
    '      kind: Deployment',
    `      name: ${OBJECTS.deployment}`,
    '    patch: |-',
    '      - op: replace',
    '        path: /spec/template/spec/terminationGracePeriodSeconds',
    `        value: ${grace}`,
  ];
  lines.push(...fitPatches(input.fit));
  if (input.registrySelector) {
    lines.push(
      '  # The existing registry\'s pods (--registry-selector): only the gateway pods reach them.',
      '  - target:',
      '      kind: NetworkPolicy',
      `      name: ${OBJECTS.registryPolicy}`,
      '    patch: |-',
      '      - op: replace',
      '        path: /spec/podSelector',
      `        value: ${JSON.stringify({ matchLabels: input.registrySelector })}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

const GITIGNORE = '# Keys, certificates, users and the registry\'s secret: never commit these.\n' +
  SECRET_FOLDERS.map((f) => `/${f}/\n`).join('');

/** Every file of the output directory, with its mode. */
export function renderDirectory(input: RenderInput): OutFile[] {
  if (input.overlay === 'existing-registry' && !input.registrySelector) {
    fail('INVALID_ARGUMENT', '--overlay existing-registry needs --registry-selector KEY=VALUE, the labels of the registry\'s pods ' +
      '(kubectl get pods --show-labels lists them): the NetworkPolicy lets only the gateway reach those pods');
  }
  return [
    { path: 'kustomization.yaml', content: kustomization(input), mode: 0o644 },
    { path: 'namespace.yaml', content: namespaceObject(input.namespace, input.overlay), mode: 0o644 },
    { path: '.gitignore', content: GITIGNORE, mode: 0o644 },
    { path: `${OUT.config}/gateway.yaml`, content: input.config, mode: 0o644 },
    ...shippedFor(input.overlay, input.shipped).map((f) => ({ path: f.path, content: f.content, mode: 0o644 })),
    ...(input.clientCA ? [input.clientCA] : []),
    ...input.secrets,
  ];
}
