// What happens to a request before it is handed to the proxy, and to the
// upstream's response before it reaches the client: short named steps, each
// tested on its own. Request headers are changed here rather than in the
// proxy's proxyReq hook, which http-proxy skips when `Expect` is present.
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { X509Certificate } from 'node:crypto';

// A DNS label: letters, digits and inner hyphens, 63 characters at most.
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const HOST = new RegExp(`^(?:${LABEL}(?:\\.${LABEL})*|\\[[0-9A-Fa-f:.]+\\])(?::\\d{1,5})?$`);

/**
 * Host is kept (the registry builds upload URLs from it), so it must be a
 * plain host[:port]: nothing else may ride along into those URLs.
 */
export function validHost(req: IncomingMessage): boolean {
  const host = req.headers.host;
  return typeof host === 'string' && host.length <= 260 && HOST.test(host);
}

/** The host part of a valid Host header, without brackets or port. */
export function hostName(host: string): string {
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']'));
  const colon = host.lastIndexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

/**
 * Without publicUrl the registry builds upload URLs (and the gateway its
 * token realm) from the Host a client sent: only names the server
 * certificate holds may be reflected, or a client could point them anywhere.
 */
export function certifiedHost(host: string, certificate: X509Certificate): boolean {
  const name = hostName(host);
  return isIP(name)
    ? certificate.checkIP(name) !== undefined
    : certificate.checkHost(name, { wildcards: true, partialWildcards: false }) !== undefined;
}

/**
 * The registry builds https upload URLs for the public host (publicUrl's,
 * else the certified Host the client used), and logs the real client.
 */
export function setForwarding(req: IncomingMessage, clientAddress: string, publicHost?: string): void {
  req.headers['x-forwarded-proto'] = 'https';
  if (publicHost) req.headers.host = publicHost;
  if (req.headers.host) req.headers['x-forwarded-host'] = req.headers.host;
  req.headers['x-forwarded-for'] = clientAddress;
}

// The request headers the registry API reads (distribution's handlers and
// the OCI spec), plus transfer framing. Everything else stops here: a header
// the gateway never looked at must not reach a server that might act on it,
// and a client's Forwarded, X-Forwarded-* or X-Real-IP cannot steer the URLs
// the registry builds nor the address it logs.
export const REGISTRY_REQUEST_HEADERS = new Set([
  'host', 'accept', 'accept-encoding', 'user-agent', 'content-type', 'content-length', 'content-range', 'range',
  'if-none-match', 'if-match', 'if-modified-since', 'transfer-encoding', 'expect', 'authorization', 'connection',
]);

/** Only the headers the registry API defines go upstream (forwarding headers are set after this). */
export function keepRegistryHeaders(req: IncomingMessage): void {
  for (const name of Object.keys(req.headers)) if (!REGISTRY_REQUEST_HEADERS.has(name)) delete req.headers[name];
}

/** The gateway is the authenticator: the client's credentials stop here. */
export function dropAuthorization(req: IncomingMessage): void {
  delete req.headers.authorization;
}

const REWRITTEN_STATUS = (status: number) => status === 201 || status === 202 || (status >= 300 && status < 400);

/**
 * A Location that points at the upstream's own address is rewritten to the
 * public one; relative and foreign ones pass through untouched.
 */
export function rewriteLocation(
  status: number, headers: NodeJS.Dict<string | string[]>, upstreamOrigin: string, publicOrigin: string,
): void {
  const location = headers.location;
  if (typeof location !== 'string' || !REWRITTEN_STATUS(status)) return;
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    return; // relative
  }
  if (url.origin !== upstreamOrigin) return;
  headers.location = publicOrigin + url.pathname + url.search + url.hash;
}

/**
 * Cuts a request whose body stops arriving: a stalled upload must not hold
 * an upstream socket for the whole idle limit. Time spent waiting on the
 * upstream (backpressure) does not count against the client.
 */
export function watchBodyStall(req: IncomingMessage, stallMs: number, onStall: () => void): void {
  if (req.complete) return;
  let seen = req.socket.bytesRead;
  const timer = setInterval(() => {
    if (req.complete || req.destroyed) return clearInterval(timer);
    const now = req.socket.bytesRead;
    const waiting = req.readableFlowing === false || req.readableLength > 0;
    if (now === seen && !waiting) {
      clearInterval(timer);
      onStall();
    }
    seen = now;
  }, stallMs);
  timer.unref();
  req.once('end', () => clearInterval(timer));
  req.once('close', () => clearInterval(timer));
}
