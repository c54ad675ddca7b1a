// GET /ui/api/setup: what a node needs, from the running gateway's own
// trust (/trust/: the CA's fingerprint, the pinned one-line commands, the
// bundle) and its current server certificate; and short per-runtime steps
// that say what /trust/'s index and the bundle's README.txt say, pointing at
// the files the served bundle holds.
import type { X509Certificate } from 'node:crypto';
import { K3S_CA_DIR } from '../bundle/render.js';
import { CERTS_D } from '../bundle/containerdCheck.js';
import { NODE_TARGETS } from '../bundle/kubernetes.js';
import { sanHosts } from '../certs/der.js';
import { daysLeft } from '../certs/validity.js';
import { SERVED_BUNDLE_DIR, type Trust } from '../trust/endpoint.js';
import type { Setup } from './apiTypes.js';
import type { RuntimeSteps } from './apiTypes.js';

export const BUNDLE_URL = '/trust/bundle.tar.gz';
export const PULL_SECRET_NAME = 'registry-gateway-pull';
/** Fewer days left than this: the UI warns. */
export const WARN_DAYS = 30;

/** Each runtime's steps, as the API's shapes name them. */
export type Steps = RuntimeSteps;

export interface CertificateStatus {
  names: string[];
  notAfter: string;
  daysLeft: number;
  warning: boolean;
}

export function certificateStatus(cert: X509Certificate, now = new Date()): CertificateStatus {
  const left = daysLeft(cert, now);
  return { names: sanHosts(cert.raw), notAfter: new Date(cert.validTo).toISOString(), daysLeft: left, warning: left < WARN_DAYS };
}

/**
 * The steps for each runtime at `registry` (host:port as clients write it).
 * caSha256 undefined: /trust/ is off (no ca.crt beside the server
 * certificate), and only what needs no bundle is said.
 */
export function setupSteps(registry: string, caSha256: string | undefined, logins: boolean): Steps {
  const url = `https://${registry}`;
  const image = `${registry}/NAME:TAG`;
  const setup = caSha256 ? 'Run the setup command above on the node, as root' : `Install the gateway's CA (ca.crt) by hand, as root`;
  // The bundle, checked against the CA's fingerprint before anything of it is trusted.
  const download = caSha256 ? [
    `curl -fsSk ${url}/trust/ca.crt -o ca.crt && echo "${caSha256}  ca.crt" | sha256sum -c`,
    `curl -fsS --cacert ca.crt ${url}${BUNDLE_URL} | sudo tar -xz -C /opt`,
  ] : ['/trust/ is off on this gateway (no ca.crt beside its server certificate): make the bundle with gateway bundle instead'];
  const dir = SERVED_BUNDLE_DIR;
  return {
    docker: [
      `${setup}: it puts the CA in ${NODE_TARGETS.docker.dir}/${registry}/ca.crt.`,
      'Docker reads certs.d at each pull: no restart.',
      ...(logins ? [`docker login ${registry}`] : []),
      `docker pull ${image}`,
    ],
    containerd: [
      `${setup}: it puts ca.crt and hosts.toml in ${CERTS_D}/${registry}/.`,
      `containerd reads them where config.toml sets config_path to ${CERTS_D}: the setup command prints the change when it is missing; restart containerd after it.`,
      `ctr images pull --hosts-dir ${CERTS_D}${logins ? ' --user USER' : ''} ${image}`,
    ],
    k3s: [
      `${setup}: it writes /etc/rancher/k3s/registries.yaml and puts the CA in ${K3S_CA_DIR}/${registry}/.`,
      'Restart k3s (or k3s-agent, rke2-server, rke2-agent) to read registries.yaml.',
      ...(logins ? [`For pulls with a login, add auth (username, password) under configs."${registry}" in registries.yaml.`] : []),
    ],
    kind: [
      ...download,
      `kind create cluster --config ${dir}/kind/cluster.yaml   (every node mounts the CA)`,
    ],
    k3d: [
      ...download,
      `k3d cluster create --config ${dir}/k3d/config.yaml   (every node gets the CA and registries.yaml)`,
    ],
    kubernetes: [
      ...download,
      `kubectl apply -f ${dir}/kubernetes/registry-trust.yaml   (the CA as a ConfigMap; gateway bundle --daemonset-image IMAGE adds a DaemonSet that puts it on every node)`,
      `kubectl apply -f ${dir}/kubernetes/local-registry-hosting.yaml   (announces the registry, KEP-1755)`,
      ...(logins ? [`Pods that pull with a login: apply the pull secret below, and set imagePullSecrets: [{ name: ${PULL_SECRET_NAME} }] in the pod spec.`] : []),
    ],
  };
}

export interface SetupInput {
  registry: string;
  /** Every address clients use, `registry` first. */
  registries?: string[];
  trust: Pick<Trust, 'caSha256' | 'commands'> & Partial<Pick<Trust, 'caFingerprints'>> | undefined;
  certificate: X509Certificate;
  logins: boolean;
  now?: Date;
}

export function setupData({ registry, registries = [registry], trust, certificate, logins, now = new Date() }: SetupInput): Setup {
  // The command for the address this browser used first.
  const mine = (c: string) => c.includes(`https://${registry}/trust/`);
  const commands = trust ? [...trust.commands.filter(mine), ...trust.commands.filter((c) => !mine(c))] : [];
  return {
    registry,
    registries,
    caSha256: trust?.caSha256 ?? null,
    caFingerprints: trust?.caFingerprints ?? [],
    commands,
    bundleUrl: trust ? BUNDLE_URL : null,
    steps: setupSteps(registry, trust?.caSha256, logins),
    certificate: certificateStatus(certificate, now),
  };
}
