// /trust/: what a node needs before it trusts the gateway, public material
// only and no auth: an index page with the setup steps (what KEP-1755's
// `help` points at), ca.crt, install.sh and the bundle as a tarball, made once
// at start for the addresses clients use. The pinned one-liners check the
// CA's SHA-256 before anything is trusted, and only then fetch a script over
// TLS verified by that CA: the short one /trust/setup (setup.ts), the long,
// self-contained one install.sh.
import { createHash, X509Certificate } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseAddress, type Address } from '../bundle/address.js';
import { renderBundle } from '../bundle/render.js';
import { normalizePem } from '../certs/trustSet.js';
import { tarball, TAR_ROOT } from '../bundle/tarball.js';
import { sanHosts } from '../certs/der.js';
import type { Endpoint } from '../http/endpoint.js';
import { API_VERSION, API_VERSION_HEADER } from '../http/responses.js';
import { SETUP_PATH, setupScript, shortCommand } from './setup.js';

/** /trust/'s files as an endpoint, and what the start-up message needs. */
export interface Trust extends Endpoint {
  /** The one-line node setup command for each address: the short one, which runs /trust/setup. */
  commands: string[];
  /** The same, self-contained (every step in the command, about twice as long): /trust/ lists them, serve --long-setup prints them. */
  longCommands: string[];
  /** The addresses (host:port) of those commands, in the same order: one other machines can reach first. */
  addresses: string[];
  /** SHA-256 of the CA file (/trust/ca.crt): what the setup command and install.sh check. */
  caSha256: string;
  /** Each CA's certificate SHA-256 fingerprint (AB:CD:…), as openssl x509 -fingerprint -sha256 and browsers show it. */
  caFingerprints: string[];
}

/** The certificate fingerprints of every CA in a PEM bundle, in order. */
export function caFingerprints(pem: string): string[] {
  // One that does not parse is left out: the file hash still pins what nodes get.
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).flatMap((c) => {
    try {
      return [new X509Certificate(c).fingerprint256];
    } catch {
      return [];
    }
  });
}

/** The two SHA-256s of the CA, labelled, for wherever a person compares them. */
export function describeCaHashes(caSha256: string, fingerprints: string[]): string[] {
  return [
    `CA file SHA-256 (sha256sum of ca.crt; what the setup command checks): ${caSha256}`,
    ...fingerprints.map((f, i) => {
      const which = fingerprints.length > 1 ? ` (${i + 1} of ${fingerprints.length})` : '';
      return `CA certificate SHA-256 fingerprint${which} (openssl x509 -fingerprint -sha256, browsers): ${f}`;
    }),
  ];
}

// Where the served bundle's kind and k3d configs expect to be unpacked.
export const SERVED_BUNDLE_DIR = `/opt/${TAR_ROOT}`;

/** The addresses clients use: publicUrl's, else every name in the server certificate at the listen port. */
export function trustAddresses(serverPem: string, port: number, publicUrl?: string): Address[] {
  if (publicUrl) {
    // URL drops the scheme's default port; an address always names one.
    const url = new URL(publicUrl);
    return [parseAddress(`${url.hostname}:${url.port || (url.protocol === 'http:' ? '80' : '443')}`)];
  }
  const names = sanHosts(new X509Certificate(serverPem).raw)
    .filter((n) => !n.startsWith('*.'))
    .map((n) => (n.includes(':') ? `[${n}]` : n));
  return names.map((n) => parseAddress(`${n}:${port}`));
}

/**
 * The long, self-contained one-line node setup. Its own `sh -c`, so that the EXIT trap removes the
 * downloaded copies on every path (success, mismatch, network error) without
 * touching the caller's shell, and arguments typed after it reach install.sh
 * (`... setup --dry-run`). Each failure says what happened, because
 * `sha256sum --status` and `curl -s` say nothing.
 */
export function pinnedCommand(address: Address, caSha256: string): string {
  const url = `https://${address.name}`;
  const script = 'f=$(mktemp) && s=$(mktemp) || exit 1; trap "rm -f \\"\\$f\\" \\"\\$s\\"" EXIT; ' +
    `curl -fsSk ${url}/trust/ca.crt -o "$f" || { echo "setup: cannot download ${url}/trust/ca.crt" >&2; exit 1; }; ` +
    `echo "${caSha256}  $f" | sha256sum -c --status || { echo "setup: the CA at ${url} has SHA-256 $(sha256sum < "$f" | cut -c1-64), ` +
    `not ${caSha256}: refusing to install it (wrong address, or the CA changed: use the command the gateway prints now)" >&2; exit 1; }; ` +
    `curl -fsS --cacert "$f" ${url}/trust/install.sh -o "$s" || { echo "setup: cannot download ${url}/trust/install.sh" >&2; exit 1; }; ` +
    'sh "$s" --ca "$f" "$@"';
  return `sh -c '${script}' setup`;
}

/** The /trust/ index: the files, and the steps for each kind of node. */
function indexPage(addresses: Address[], commands: string[], longCommands: string[], caSha256: string, fingerprints: string[]): string {
  // addresses come ordered: one other machines can reach first.
  const url = `https://${addresses[0]!.name}`;
  return `Trust for the registry at ${addresses.map((a) => a.name).join(', ')}

${describeCaHashes(caSha256, fingerprints).join('\n')}

Files (public, no login):
  ${url}/trust/ca.crt          the CA certificate(s) nodes trust (PEM)
  ${url}/trust/install.sh      installs it for Docker, containerd, podman/CRI-O and k3s
  ${url}${SETUP_PATH}           what the setup command below runs: install.sh, with the CA it checked
  ${url}/trust/bundle.tar.gz   every file of the bundle (unpack in /opt for the kind and k3d configs)

On a node, as root (checks the CA's SHA-256 before installing anything):
${commands.map((c) => `  ${c}`).join('\n')}
  Append --dry-run to the command to see what it would change first.

The same, self-contained (every step in the command, nothing from ${SETUP_PATH}):
${longCommands.map((c) => `  ${c}`).join('\n')}

Then:
  Docker, podman, skopeo, CRI-O   nothing more: certs.d is read at each pull.
  containerd (Kubernetes pulls)   install.sh prints the config_path change
                                  config.toml needs, if any; restart containerd after it.
  k3s, k3d, RKE2                  restart k3s (or k3s-agent, rke2-server, rke2-agent)
                                  to read registries.yaml.
  kind                            kind/cluster.yaml in the bundle mounts the CA on every node.
  a whole cluster                 kubernetes/registry-trust.yaml in the bundle (a DaemonSet
                                  when the bundle is made with gateway bundle --daemonset-image).
`;
}

/** caPem: every CA nodes should trust, as one PEM bundle (certs/trustSet.ts). */
/**
 * Addresses in the order nodes can use them: other machines cannot use a
 * loopback address, and a node's kubelet and containerd resolve names with
 * the node's resolv.conf, not the cluster DNS, so a Service name
 * (NAME.NS.svc, .svc.cluster.local) works only from pods. Both go last.
 */
export function nodeReachableFirst(addresses: readonly Address[]): Address[] {
  const rank = (a: Address) => (isLoopback(a.host) ? 2 : isClusterName(a.host) ? 1 : 0);
  return [...addresses].sort((a, b) => rank(a) - rank(b)); // stable: the certificate's order within a rank
}

export const isLoopback = (host: string) => host === 'localhost' || host.startsWith('127.') || host === '[::1]' || host === '::1';
/** A name only the cluster's DNS resolves: what pods use, never a node. */
export const isClusterName = (host: string) => /\.svc(\.cluster\.local)?\.?$|\.cluster\.local\.?$/i.test(host);

export async function createTrust(rawCaPem: string, addresses: Address[]): Promise<Trust> {
  // LF only, as the bundle's copies are: the pinned SHA-256 covers these bytes.
  const caPem = normalizePem(rawCaPem);
  const caSha256 = createHash('sha256').update(caPem).digest('hex');
  const files = renderBundle({ addresses, caPem, outDir: SERVED_BUNDLE_DIR });
  const install = files.find((f) => f.path === 'install.sh')!.content;
  const tar = await tarball(files);
  const ordered = nodeReachableFirst(addresses);
  const commands = ordered.map((a) => shortCommand(a, caSha256));
  const longCommands = ordered.map((a) => pinnedCommand(a, caSha256));
  const fingerprints = caFingerprints(caPem);
  const index = { type: 'text/plain; charset=utf-8', body: indexPage(ordered, commands, longCommands, caSha256, fingerprints) };
  const bodies: Record<string, { type: string; body: string | Buffer }> = {
    '/trust/': index,
    '/trust': index,
    '/trust/ca.crt': { type: 'application/x-pem-file', body: caPem },
    '/trust/install.sh': { type: 'text/x-shellscript; charset=utf-8', body: install },
    [SETUP_PATH]: { type: 'text/x-shellscript; charset=utf-8', body: setupScript(install) },
    '/trust/bundle.tar.gz': { type: 'application/gzip', body: tar },
  };
  return {
    caSha256,
    caFingerprints: fingerprints,
    commands,
    longCommands,
    addresses: ordered.map((a) => a.name),
    paths: new Set(Object.keys(bodies)),
    kind: 'trust',
    async handle(req: IncomingMessage, res: ServerResponse, path: string) {
      const item = bodies[path]!;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { Allow: 'GET, HEAD', [API_VERSION_HEADER]: API_VERSION });
        res.end();
        return;
      }
      res.writeHead(200, {
        'Content-Type': item.type,
        'Content-Length': Buffer.byteLength(item.body),
        'Cache-Control': 'no-cache',
        [API_VERSION_HEADER]: API_VERSION,
      });
      res.end(req.method === 'HEAD' ? undefined : item.body);
    },
  };
}
