// Where things are in the Pod (the paths the image's contract fixes) and in
// the directory `gateway deploy kubernetes` writes. One place, so the
// rewritten gateway.yaml, the kustomization and the shipped manifests agree.

export const OVERLAYS = ['with-registry', 'existing-registry'] as const;
export type Overlay = (typeof OVERLAYS)[number];

/** Mount points of the gateway container (deploy/kubernetes/base/gateway-deployment.yaml). */
export const MOUNTS = {
  config: '/etc/gateway/config',
  certs: '/etc/gateway/certs',
  users: '/etc/gateway/users',
  token: '/etc/gateway/token',
  redis: '/etc/gateway/redis',
  upstream: '/etc/gateway/upstream',
  clientCA: '/etc/gateway/client-ca',
} as const;

export const IN_CONTAINER = {
  config: `${MOUNTS.config}/gateway.yaml`,
  cert: `${MOUNTS.certs}/server.crt`,
  key: `${MOUNTS.certs}/server.key`,
  htpasswd: `${MOUNTS.users}/htpasswd`,
  signingKey: `${MOUNTS.token}/token.key`,
  listen: '[::]:5443',
  metrics: '[::]:9464',
  redis: 'redis://registry-gateway-redis:6379',
  /** The bundled Redis's password (the Secret registry-gateway-redis): redis.passwordFile. */
  redisPassword: `${MOUNTS.redis}/password`,
  /** with-registry: the user the gateway is to the registry (its htpasswd, the Secret registry-auth). */
  bundledUpstreamUser: 'registry-gateway',
  /** with-registry's Service (overlays/with-registry/registry.yaml). */
  bundledUpstream: 'http://registry:5000',
} as const;

/** Object names the manifests refer to; the generated kustomization makes them. */
export const OBJECTS = {
  deployment: 'registry-gateway',
  service: 'registry-gateway',
  config: 'registry-gateway-config',
  tls: 'registry-gateway-tls',
  users: 'registry-gateway-users',
  token: 'registry-gateway-token',
  registrySecret: 'registry-http-secret',
  redisSecret: 'registry-gateway-redis',
  upstreamSecret: 'registry-gateway-upstream',
  registryAuth: 'registry-auth',
  registryPolicy: 'registry',
  clientCA: 'registry-gateway-client-ca',
} as const;

/**
 * Folders of the output directory: each holds one generator's files, named as
 * they appear in the Pod. The secret ones are mode 0700 and git-ignored.
 */
export const OUT = {
  config: 'config',
  certs: 'certs',
  users: 'users',
  token: 'token',
  registry: 'registry',
  redis: 'redis',
  upstream: 'upstream',
  registryAuth: 'registry-auth',
  /** tls.clientCA when it is not the certificate directory's ca.crt: a certificate, public (a ConfigMap, kept by --gitops). */
  clientCA: 'client-ca',
} as const;
export const SECRET_FOLDERS = [OUT.certs, OUT.users, OUT.token, OUT.registry, OUT.redis, OUT.upstream, OUT.registryAuth] as const;

/** The first line of the kustomization we write: how --force knows a directory is ours to replace. */
export const MARKER = '# Written by `gateway deploy kubernetes`';

/**
 * shutdown.delay the Pod gets when gateway.yaml sets none. kube-proxy drops
 * a terminating pod's endpoint within a second or two, but a cloud load
 * balancer (target groups, NEGs) deregisters a target only after its own
 * health checks and a propagation delay, typically 5-10 s: until then it
 * still sends new connections, which must be served, not refused.
 */
export const DEFAULT_SHUTDOWN_DELAY = 10;
/** Seconds the kubelet waits beyond delay + grace before SIGKILL. */
export const KILL_MARGIN = 10;
