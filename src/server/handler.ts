// One request, start to finish, as a list of steps: route, parse the query
// and check the body, authorize, take a share of the upstream, then proxy a
// request rebuilt from what was parsed (or answer it here). Whatever the
// upstream executes is exactly what was authorized.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { AccessController } from '../auth/controller.js';
import { checkBody, takesBody, watchBodyStall } from '../proxy/body.js';
import { DEFAULT_CATALOG_PAGE, paginate, readList } from '../proxy/catalog.js';
import { API_VERSION, API_VERSION_HEADER, sendError, sendJson } from '../proxy/errors.js';
import { dropAuthorization, keepRegistryHeaders, rewriteLocation, setForwarding, stripClientForwarding, validHost } from '../proxy/passes.js';
import { formatQuery, parametersFor, parseQuery } from '../proxy/query.js';
import { parseRoute, requiredAccess, type Route } from '../proxy/routes.js';
import type { Shares } from '../proxy/shares.js';
import type { Upstream } from '../proxy/upstream.js';
import { addressKey, plainAddress } from '../util/address.js';
import { loggablePath, type Logger } from './log.js';
import { TOKEN_PATHS } from '../token/endpoint.js';
import type { Trust } from './trust.js';

export interface HandlerOptions {
  controller: AccessController;
  upstream: Upstream;
  log: Logger;
  /** Whether the gateway authenticates (then client credentials stop here). */
  authenticates: boolean;
  /** https://host:port clients use: publicUrl's, or else the Host each client sent. */
  publicOrigin: (req: IncomingMessage) => string;
  /** publicUrl's host:port, sent upstream as Host whatever the client sent; undefined without publicUrl. */
  publicHost?: string | undefined;
  /** Whether a Host may be reflected into URLs (named by the server certificate). */
  hostAllowed: (host: string) => boolean;
  shares: Shares;
  /** A request body that sends nothing for this long is cut. */
  bodyStallMs: number;
  version: string;
  /** GET/POST /token and the JWKS, in token mode. */
  tokenEndpoint?: TokenHandler | undefined;
  /** /trust/ files, when the CA is known. */
  trust?: Trust | undefined;
}

export type TokenHandler = (req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams) => Promise<void>;

export function clientAddress(req: IncomingMessage): string {
  return plainAddress(req.socket.remoteAddress);
}

interface Entry {
  user?: string;
  repository?: string;
  action?: string;
}

function accessLog(req: IncomingMessage, res: ServerResponse, log: Logger, entry: Entry): void {
  const started = performance.now();
  const socket = req.socket;
  const read0 = socket.bytesRead;
  const written0 = socket.bytesWritten;
  const path = loggablePath(req.url ?? '/');
  res.once('close', () => {
    log.info({
      client: clientAddress(req),
      user: entry.user ?? null,
      method: req.method,
      path,
      repository: entry.repository ?? null,
      action: entry.action ?? null,
      status: res.statusCode,
      completed: res.writableFinished,
      bytesIn: socket.bytesRead - read0,
      bytesOut: socket.bytesWritten - written0,
      durationMs: Math.round((performance.now() - started) * 10) / 10,
    }, 'request');
  });
}

/**
 * Up or not, for probes and anyone else; where the upstream is and why it
 * failed is for operators, who have it in the log (it helps an attacker
 * aim past the gateway).
 */
async function health(res: ServerResponse, opts: HandlerOptions): Promise<void> {
  let reachable = false;
  try {
    reachable = (await opts.upstream.get('/v2/', {}, 3000, true)).status < 500;
  } catch (err) {
    opts.log.warn({ upstream: opts.upstream.origin, error: (err as NodeJS.ErrnoException).code ?? (err as Error).message }, 'health check: upstream unreachable');
  }
  sendJson(res, reachable ? 200 : 503, { status: reachable ? 'ok' : 'degraded', upstream: { reachable } });
}

function describeRoute(route: Route): string | undefined {
  return route.kind === 'repository' ? route.name : undefined;
}

function actionOf(method: string): string {
  return method === 'DELETE' ? 'delete' : method === 'GET' || method === 'HEAD' ? 'pull' : 'push';
}

/** The catalog (filtered to what the account may pull) and tag lists, paginated here. */
async function listing(req: IncomingMessage, res: ServerResponse, route: Route, params: Map<string, string>, account: string, opts: HandlerOptions) {
  const headers = {
    host: opts.publicHost ?? req.headers.host ?? '',
    'x-forwarded-proto': 'https',
    ...(req.headers['user-agent'] ? { 'user-agent': req.headers['user-agent'] } : {}),
    ...(!opts.authenticates && req.headers.authorization ? { authorization: req.headers.authorization } : {}),
  };
  const path = route.kind === 'catalog' ? '/v2/_catalog' : `/v2/${(route as { name: string }).name}/tags/list`;
  const list = await readList(opts.upstream, path, route.kind === 'catalog' ? 'repositories' : 'tags', headers);
  if (list.kind === 'upstream') {
    res.writeHead(list.status, { 'Content-Type': list.contentType, [API_VERSION_HEADER]: API_VERSION });
    res.end(req.method === 'HEAD' ? undefined : list.body);
    return;
  }
  if (route.kind === 'catalog') {
    const visible = list.items.filter((name) => opts.controller.canPull(account, name));
    const page = paginate(visible, path, params, DEFAULT_CATALOG_PAGE);
    sendJson(res, 200, { repositories: page.items }, page.link ? { Link: page.link } : {});
    return;
  }
  const page = paginate(list.items, path, params, undefined);
  sendJson(res, 200, { name: list.name ?? (route as { name: string }).name, tags: page.items }, page.link ? { Link: page.link } : {});
}

export function createHandler(opts: HandlerOptions) {
  const proxyError = (err: Error, _req: IncomingMessage, res: ServerResponse | import('node:net').Socket) => {
    if (!('writeHead' in res)) return;
    const code = (err as NodeJS.ErrnoException).code ?? err.message;
    opts.log.warn({ upstream: opts.upstream.origin, error: code }, 'upstream request failed');
    sendError(res, 503, 'UNAVAILABLE', `upstream registry ${opts.upstream.origin} is unavailable (${code})`, {}, { upstream: opts.upstream.origin });
  };

  opts.upstream.proxy.on('proxyRes', (proxyRes, req) => {
    rewriteLocation(proxyRes.statusCode ?? 0, proxyRes.headers, opts.upstream.origin, opts.publicOrigin(req));
  });

  return async function handle(req: IncomingMessage, res: ServerResponse, expectContinue = false): Promise<void> {
    const entry: Entry = {};
    accessLog(req, res, opts.log, entry);
    try {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const path = q === -1 ? url : url.slice(0, q);
      const rawQuery = q === -1 ? '' : url.slice(q + 1);
      const method = req.method ?? '';
      if (path === '/healthz') return await health(res, opts);
      if (opts.tokenEndpoint && TOKEN_PATHS.has(path)) return await opts.tokenEndpoint(req, res, path, new URLSearchParams(rawQuery));
      if (path.startsWith('/trust/') && opts.trust?.handle(req, res, path)) return;
      if (!validHost(req)) return sendError(res, 400, 'NAME_INVALID', 'missing or malformed Host header: expected host[:port]');
      if (!opts.publicHost && !opts.hostAllowed(req.headers.host!)) {
        return sendError(res, 400, 'UNSUPPORTED', `Host '${req.headers.host}' is not a name in the gateway's certificate: connect by one of its names, or set publicUrl`);
      }
      const route = parseRoute(path);
      if (route.kind === 'invalid') return sendError(res, route.status, route.code, route.message);
      entry.repository = describeRoute(route);
      const params = parseQuery(rawQuery, parametersFor(method, route, path), route);
      if ('kind' in params) return sendError(res, params.status, params.code, params.message);
      const bodyError = checkBody(req, takesBody(method, route, path, params));
      if (bodyError) return sendError(res, bodyError.status, bodyError.code, bodyError.message);
      const access = requiredAccess(method, route, new URLSearchParams([...params]));
      if (!access) return sendError(res, 405, 'UNSUPPORTED', `${method} is not supported on ${path}`);
      if (route.kind === 'repository') entry.action = actionOf(method);
      const decision = await opts.controller.authorized(req, access);
      entry.user = decision.account;
      if (decision.kind === 'challenge') return sendError(res, decision.status, decision.code, decision.message, decision.headers);
      const mountSource = access.find((a) => a.optional);
      if (mountSource && !decision.granted.includes(mountSource)) {
        // A mount whose source the account may not pull becomes a plain upload.
        params.delete('mount');
        params.delete('from');
      }
      const release = opts.shares.acquire(addressKey(req.socket.remoteAddress), decision.account);
      if (typeof release !== 'function') {
        const who = release.limit === 'upstreamPerAddress' ? 'this address' : release.limit === 'upstreamAnonymous' ? 'anonymous clients' : 'this account';
        return sendError(res, 429, 'TOOMANYREQUESTS', `too many requests in flight from ${who} (at most ${release.max}: limits.${release.limit})`, { 'Retry-After': '1' });
      }
      res.once('close', release);
      if (route.kind === 'catalog' || (route.kind === 'repository' && route.resource === 'tags')) {
        return await listing(req, res, route, params, decision.account, opts).catch((err: Error) => proxyError(err, req, res));
      }
      req.url = path + formatQuery(params);
      stripClientForwarding(req);
      keepRegistryHeaders(req);
      setForwarding(req, clientAddress(req), opts.publicHost);
      if (opts.authenticates) dropAuthorization(req);
      if (expectContinue) {
        // Authorized: now let the client send the body. The upstream is not
        // asked again, so the header goes no further.
        res.writeContinue();
        delete req.headers.expect;
      }
      watchBodyStall(req, opts.bodyStallMs, () => {
        opts.log.warn({ client: clientAddress(req), path }, 'request body stalled; closing the connection');
        req.destroy();
      });
      opts.upstream.proxy.web(req, res, {}, proxyError);
    } catch (err) {
      opts.log.error({ error: (err as Error).message }, 'request failed');
      sendError(res, 500, 'UNKNOWN', 'internal gateway error');
    }
  };
}
