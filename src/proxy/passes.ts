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
  return typeof host === 'string' && host.length <= 260 && HOST.test(host) && (hostPort(host) ?? 1) <= 65535;
}

/** The port of a valid Host header, if it names one. */
export function hostPort(host: string): number | undefined {
  const m = /:(\d+)$/.exec(host.startsWith('[') ? host.slice(host.indexOf(']')) : host);
  return m ? Number(m[1]) : undefined;
}

/**
 * The registry reflects Host's port into upload URLs: only the port the
 * gateway listens on, or none (443, as behind a forwarder on the https
 * port), so a client cannot have URLs point at another service.
 */
export function servedPort(host: string, listening: number): boolean {
  const port = hostPort(host);
  return port === undefined || port === listening || port === 443;
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
 * else the certified Host the client used), and logs the real client. The
 * client's own Forwarded, X-Forwarded-* or X-Real-IP never go upstream.
 * `traceparent`: the request's trace (trace.ts), so the upstream's log joins the gateway's.
 */
export function forwardingHeaders(host: string, clientAddress: string, traceparent?: string): Record<string, string> {
  return {
    host, 'x-forwarded-proto': 'https', 'x-forwarded-host': host, 'x-forwarded-for': clientAddress,
    ...(traceparent ? { traceparent } : {}),
  };
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
