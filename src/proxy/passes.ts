// What happens to a request before it is handed to the proxy, and to the
// upstream's response before it reaches the client: short named steps, each
// tested on its own. Request headers are changed here rather than in the
// proxy's proxyReq hook, which http-proxy skips when `Expect` is present.
import type { IncomingMessage } from 'node:http';

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * Host is kept (the registry builds upload URLs from it), so it must be a
 * plain host[:port]: nothing else may ride along into those URLs.
 */
export function validHost(req: IncomingMessage): boolean {
  const host = req.headers.host;
  return typeof host === 'string' && host.length <= 260 && HOST.test(host);
}

/** Clients must not steer the URLs the registry builds, nor the address it logs. */
export function stripClientForwarding(req: IncomingMessage): void {
  for (const name of Object.keys(req.headers)) {
    if (name === 'forwarded' || name === 'x-real-ip' || name.startsWith('x-forwarded-')) delete req.headers[name];
  }
}

/** The registry builds https upload URLs for the host the client used, and logs the real client. */
export function setForwarding(req: IncomingMessage, clientAddress: string): void {
  req.headers['x-forwarded-proto'] = 'https';
  if (req.headers.host) req.headers['x-forwarded-host'] = req.headers.host;
  req.headers['x-forwarded-for'] = clientAddress;
}

/** The gateway is the authenticator: the client's credentials stop here. */
export function dropAuthorization(req: IncomingMessage): void {
  delete req.headers.authorization;
}

/** A mount whose source the account may not pull becomes a plain upload start. */
export function stripMount(req: IncomingMessage): void {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  if (q === -1) return;
  const query = new URLSearchParams(url.slice(q + 1));
  query.delete('mount');
  query.delete('from');
  const rest = query.toString();
  req.url = url.slice(0, q) + (rest ? `?${rest}` : '');
}

const REWRITTEN_STATUS = (status: number) => status === 201 || status === 202 || (status >= 300 && status < 400);

/**
 * A Location that points at the upstream's own address is rewritten to the
 * public one; relative and foreign ones pass through untouched.
 */
export function rewriteLocation(status: number, headers: NodeJS.Dict<string | string[]>, upstreamOrigin: string, publicOrigin: string): void {
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
