// gateway.yaml as the Pod reads it: the user's settings, with every path and
// address that differs in the container rewritten to what the manifests mount
// and expose. Pure: text in, text out.
import { Document, parseDocument } from 'yaml';
import { validateConfig, type Config } from '../config/config.js';
import { fail } from '../errors.js';
import { DEFAULT_SHUTDOWN_DELAY, IN_CONTAINER, MOUNTS } from './layout.js';

export interface ContainerConfigOptions {
  /** Where the text came from, for messages. */
  source: string;
  /** The file it was read from; undefined: no file, the defaults. */
  file?: string | undefined;
  upstream: string;
  /** false: one replica, no Redis (--single). */
  redis: boolean;
  /** In-container path of tls.clientCA, when the config sets one. */
  clientCA?: string | undefined;
  /** upstream's CA, client certificate and credential, with in-container paths; unset: a plain URL. */
  upstreamClient?: Record<string, string> | undefined;
  /** In-container paths of auth.token.verifyKeys, in order. */
  verifyKeys?: readonly string[];
  /**
   * kubernetes (the default): the Pod's Service exposes metrics, endpoints need a shutdown delay.
   * container: one podman/docker container (`gateway deploy container`).
   */
  target?: 'kubernetes' | 'container';
  /** The exposure's URL (--expose): what nodes and clients outside use. */
  publicUrl?: string | undefined;
  /** The certificate and key's names in the TLS Secret, when not server.crt/server.key (a kubernetes.io/tls Secret). */
  tlsFiles?: { cert: string; key: string } | undefined;
}

export interface ContainerConfig {
  text: string;
  /** The rewritten config, validated as `gateway serve` will. */
  config: Config;
  /** What was changed that the user may not expect. */
  notes: string[];
}

/** Parses the user's gateway.yaml (undefined: none, the defaults) and validates it. */
export function readUserConfig(text: string | undefined, source: string): Config {
  return validateConfig(parseYaml(text ?? '', source).toJS(), {}, source);
}

/** Whether the text sets a key itself (rather than leaving it to the default). */
export function configSets(text: string | undefined, path: readonly string[]): boolean {
  return text !== undefined && parseYaml(text, 'config').hasIn(path);
}

function parseYaml(text: string, source: string) {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) fail('INVALID_CONFIG', `${source}: ${doc.errors[0]!.message.split('\n')[0]}`);
  return doc;
}

type Tree = Record<string, unknown>;

function setIn(tree: Tree, path: readonly string[], value: unknown): void {
  let node = tree;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    node = (node[key] = next !== null && typeof next === 'object' && !Array.isArray(next) ? next : {}) as Tree;
  }
  node[path.at(-1)!] = value;
}

function deleteIn(tree: Tree, path: readonly string[]): void {
  const parent = path.slice(0, -1).reduce<unknown>((n, k) => (n as Tree | undefined)?.[k], tree) as Tree | undefined;
  if (parent) delete parent[path.at(-1)!];
}

export function containerConfig(text: string | undefined, o: ContainerConfigOptions): ContainerConfig {
  // The settings as the user wrote them (defaults stay defaults), rewritten and
  // written out plain: the yaml library would keep the comments but move them
  // about, and theirs speak of this machine's paths.
  const raw = (parseYaml(text ?? '', o.source).toJS() ?? {}) as Tree;
  const user = validateConfig(raw, {}, o.source);
  const c = structuredClone(raw);
  const notes: string[] = [];
  setIn(c, ['listen'], IN_CONTAINER.listen);
  const client = o.upstreamClient ?? {};
  setIn(c, ['upstream'], Object.keys(client).length > 0 ? { url: o.upstream, ...client } : o.upstream);
  const dropped = Object.keys(user.upstreamClient).filter((k) => !(k in client));
  if (dropped.length > 0) notes.push(`upstream.${dropped.join(', upstream.')} left out: not for this upstream`);
  setIn(c, ['tls', 'cert'], o.tlsFiles ? `${MOUNTS.certs}/${o.tlsFiles.cert}` : IN_CONTAINER.cert);
  setIn(c, ['tls', 'key'], o.tlsFiles ? `${MOUNTS.certs}/${o.tlsFiles.key}` : IN_CONTAINER.key);
  if (o.publicUrl !== undefined) {
    if (user.publicUrl !== undefined && new URL(user.publicUrl).origin !== new URL(o.publicUrl).origin) {
      notes.push(`publicUrl ${user.publicUrl} replaced by the exposure's ${o.publicUrl}`);
    }
    setIn(c, ['publicUrl'], o.publicUrl);
  }
  if (user.tls.clientCA !== undefined) {
    if (o.clientCA === undefined) fail('INVALID_ARGUMENT', 'tls.clientCA is set but no in-container path was given for it');
    setIn(c, ['tls', 'clientCA'], o.clientCA);
  }
  setIn(c, ['auth', 'htpasswd'], IN_CONTAINER.htpasswd);
  if (user.auth.mode === 'token') {
    setIn(c, ['auth', 'token', 'signingKey'], IN_CONTAINER.signingKey);
    if (user.auth.token.verifyKeys.length > 0) setIn(c, ['auth', 'token', 'verifyKeys'], [...(o.verifyKeys ?? [])]);
  }
  const kubernetes = (o.target ?? 'kubernetes') === 'kubernetes';
  // The Service's metrics port: every pod address, not loopback. A plain container: only when the config has metrics.
  if (kubernetes || user.metrics !== undefined) setIn(c, ['metrics', 'listen'], IN_CONTAINER.metrics);
  if (o.redis) {
    if (user.redis !== undefined && user.redis.url !== IN_CONTAINER.redis) {
      notes.push(`redis.url ${user.redis.url} replaced by the Redis deployed beside the gateway, ${IN_CONTAINER.redis}`);
    }
    setIn(c, ['redis', 'url'], IN_CONTAINER.redis);
    // The bundled Redis requires a password (the Secret registry-gateway-redis): the
    // configured passwordFile's, or one generated (and kept across runs).
    setIn(c, ['redis', 'passwordFile'], IN_CONTAINER.redisPassword);
    for (const key of ['ca', 'sentinel']) {
      if ((user.redis as Record<string, unknown> | undefined)?.[key] !== undefined) {
        deleteIn(c, ['redis', key]);
        notes.push(`redis.${key} left out: the Redis deployed beside the gateway is plain redis:// on the pod network, no Sentinel`);
      }
    }
  } else if (user.redis !== undefined) {
    deleteIn(c, ['redis']);
    notes.push('redis: left out (--single): one gateway counts alone');
  }
  // Endpoints drop a terminating pod within a few seconds; until then it must still answer.
  if (kubernetes && (c.shutdown as Tree | undefined)?.delay === undefined) setIn(c, ['shutdown', 'delay'], DEFAULT_SHUTDOWN_DELAY);
  const doc = new Document(c);
  doc.commentBefore = kubernetes
    ? ` Written by \`gateway deploy kubernetes\` from ${o.file ?? 'the defaults'}: the paths are\n` +
      ' where the Pod mounts the ConfigMap and Secrets (deploy/kubernetes/README.md).\n' +
      ` Change ${o.file ?? 'config/gateway.yaml'} and run the command again, rather than this copy.`
    : ` Written by \`gateway deploy container\` from ${o.file ?? 'the defaults'}: the paths are\n` +
      ' where the image expects its mounts (/etc/gateway/...; README.md, Container image).\n' +
      ` Change ${o.file ?? 'config/gateway.yaml'} and run the command again, rather than this copy.`;
  const out = doc.toString();
  // What `gateway serve` in the Pod will read: refused here, not in a crash loop.
  const config = validateConfig(parseYaml(out, 'the rewritten gateway.yaml').toJS(), {}, 'the rewritten gateway.yaml');
  return { text: out, config, notes };
}
