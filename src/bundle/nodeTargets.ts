// Where a node's runtime reads per-registry trust: data with no imports but
// a constant, so `gateway bundle --help` can name the targets without loading
// the YAML writer (issue 26).
import { CERTS_D } from './containerdCheck.js';

/** Where a node's runtime reads per-registry trust, by what runs on the node. */
export const NODE_TARGETS = {
  containerd: { dir: CERTS_D, hostsToml: true },
  docker: { dir: '/etc/docker/certs.d', hostsToml: false },
  // k3s and k3d, and RKE2: their containerd's config_path (set by them).
  k3s: { dir: '/var/lib/rancher/k3s/agent/etc/containerd/certs.d', hostsToml: true },
  rke2: { dir: '/var/lib/rancher/rke2/agent/etc/containerd/certs.d', hostsToml: true },
} as const;
export type NodeTarget = keyof typeof NODE_TARGETS;
export const DEFAULT_TARGETS: NodeTarget[] = ['containerd', 'docker'];
