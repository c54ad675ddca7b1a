// /trust/: what a node needs before it trusts the gateway, public material
// only and no auth: ca.crt, install.sh and the bundle as a tarball, made once
// at start for the addresses clients use. The pinned one-liner checks the
// CA's fingerprint before anything is installed, and only then fetches
// install.sh over TLS verified by that CA.
import { createHash, X509Certificate } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseAddress, type Address } from '../bundle/address.js';
import { renderBundle } from '../bundle/render.js';
import { tarball, TAR_ROOT } from '../bundle/tarball.js';
import { sanHosts } from '../certs/der.js';
import type { Endpoint } from '../http/endpoint.js';
import { API_VERSION, API_VERSION_HEADER } from '../http/responses.js';

/** /trust/'s files as an endpoint, and what the start-up message needs. */
export interface Trust extends Endpoint {
  /** The one-line node setup command for each address. */
  commands: string[];
  caSha256: string;
}

// Where the served bundle's kind and k3d configs expect to be unpacked.
export const SERVED_BUNDLE_DIR = `/opt/${TAR_ROOT}`;

/** The addresses clients use: publicUrl's, else every name in the server certificate at the listen port. */
export function trustAddresses(serverPem: string, port: number, publicUrl?: string): Address[] {
  if (publicUrl) return [parseAddress(new URL(publicUrl).host)];
  const names = sanHosts(new X509Certificate(serverPem).raw)
    .filter((n) => !n.startsWith('*.'))
    .map((n) => (n.includes(':') ? `[${n}]` : n));
  return names.map((n) => parseAddress(`${n}:${port}`));
}

/**
 * The one-line node setup. Its own `sh -c`, so that the EXIT trap removes the
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

/** caPem: every CA nodes should trust, as one PEM bundle (certs/trustSet.ts). */
export async function createTrust(caPem: string, addresses: Address[]): Promise<Trust> {
  const caSha256 = createHash('sha256').update(caPem).digest('hex');
  const files = renderBundle({ addresses, caPem, outDir: SERVED_BUNDLE_DIR });
  const install = files.find((f) => f.path === 'install.sh')!.content;
  const tar = await tarball(files);
  const bodies: Record<string, { type: string; body: string | Buffer }> = {
    '/trust/ca.crt': { type: 'application/x-pem-file', body: caPem },
    '/trust/install.sh': { type: 'text/x-shellscript; charset=utf-8', body: install },
    '/trust/bundle.tar.gz': { type: 'application/gzip', body: tar },
  };
  // Other machines cannot use a loopback address: those commands go last.
  const loopback = (a: Address) => a.host === 'localhost' || a.host.startsWith('127.') || a.host === '[::1]';
  const ordered = [...addresses.filter((a) => !loopback(a)), ...addresses.filter(loopback)];
  return {
    caSha256,
    commands: ordered.map((a) => pinnedCommand(a, caSha256)),
    paths: new Set(Object.keys(bodies)),
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
