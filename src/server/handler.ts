// One request, start to finish: route, authorize, then proxy (or answer).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { AccessController } from '../auth/controller.js';
import { API_VERSION, API_VERSION_HEADER, sendError, sendJson } from '../proxy/errors.js';
import { dropAuthorization, rewriteLocation, setForwarding, stripClientForwarding, stripMount, validHost } from '../proxy/passes.js';
import { parseRoute, requiredAccess, splitUrl, type Route } from '../proxy/routes.js';
import type { Upstream } from '../proxy/upstream.js';
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
  version: string;
  /** GET/POST /token and the JWKS, in token mode. */
  tokenEndpoint?: TokenHandler | undefined;
  /** /trust/ files, when the CA is known. */
  trust?: Trust | undefined;
}

export type TokenHandler = (req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams) => Promise<void>;

export function clientAddress(req: IncomingMessage): string {
  const a = req.socket.remoteAddress ?? '';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
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

async function health(res: ServerResponse, opts: HandlerOptions): Promise<void> {
  let upstream: { url: string; reachable: boolean; status?: number; error?: string } = { url: opts.upstream.origin, reachable: false };
  try {
    const r = await opts.upstream.get('/v2/', {}, 3000);
    upstream = { url: opts.upstream.origin, reachable: r.status < 500, status: r.status };
  } catch (err) {
    upstream.error = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  }
  sendJson(res, upstream.reachable ? 200 : 503, { status: upstream.reachable ? 'ok' : 'degraded', gateway: { version: opts.version, uptimeSeconds: Math.round(process.uptime()) }, upstream });
}

/** The catalog, filtered to the repositories the account may pull. */
async function catalog(req: IncomingMessage, res: ServerResponse, account: string, opts: HandlerOptions): Promise<void> {
  const { query } = splitUrl(req.url ?? '');
  const forwarded = new URLSearchParams();
  for (const key of ['n', 'last']) if (query.has(key)) forwarded.set(key, query.get(key)!);
  const r = await opts.upstream.get(`/v2/_catalog${forwarded.size ? `?${forwarded}` : ''}`, { host: req.headers.host ?? '', 'x-forwarded-proto': 'https' });
  if (r.status !== 200) {
    res.writeHead(r.status, { 'Content-Type': r.headers['content-type'] ?? 'application/json', [API_VERSION_HEADER]: API_VERSION });
    res.end(r.body);
    return;
  }
  const body = JSON.parse(r.body.toString('utf8')) as { repositories?: string[] };
  const repositories = (body.repositories ?? []).filter((name) => opts.controller.canPull(account, name));
  sendJson(res, 200, { repositories }, typeof r.headers.link === 'string' ? { Link: r.headers.link } : {});
}

function actionOf(method: string | undefined): string {
  return method === 'DELETE' ? 'delete' : method === 'GET' || method === 'HEAD' ? 'pull' : 'push';
}

function describeRoute(route: Route): string | undefined {
  return route.kind === 'repository' ? route.name : undefined;
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
      const { path, query } = splitUrl(req.url ?? '/');
      if (path === '/healthz') return await health(res, opts);
      if (opts.tokenEndpoint && TOKEN_PATHS.has(path)) return await opts.tokenEndpoint(req, res, path, query);
      if (path.startsWith('/trust/') && opts.trust?.handle(req, res, path)) return;
      if (!validHost(req)) return sendError(res, 400, 'NAME_INVALID', 'missing or malformed Host header: expected host[:port]');
      const route = parseRoute(path);
      if (route.kind === 'invalid') return sendError(res, route.status, route.code, route.message);
      entry.repository = describeRoute(route);
      const access = requiredAccess(req.method ?? '', route, query);
      if (!access) return sendError(res, 405, 'UNSUPPORTED', `${req.method} is not supported on ${path}`);
      if (route.kind === 'repository') entry.action = actionOf(req.method);
      const decision = await opts.controller.authorized(req, access);
      if (decision.kind === 'challenge') {
        entry.user = decision.account;
        return sendError(res, decision.status, decision.code, decision.message, decision.headers);
      }
      entry.user = decision.account;
      const mountSource = access.find((a) => a.optional);
      if (mountSource && !decision.granted.includes(mountSource)) stripMount(req);
      if (route.kind === 'catalog') return await catalog(req, res, decision.account, opts).catch((err: Error) => proxyError(err, req, res));
      stripClientForwarding(req);
      setForwarding(req, clientAddress(req));
      if (opts.authenticates) dropAuthorization(req);
      if (expectContinue) {
        // Authorized: now let the client send the body. The upstream is not
        // asked again, so the header goes no further.
        res.writeContinue();
        delete req.headers.expect;
      }
      opts.upstream.proxy.web(req, res, {}, proxyError);
    } catch (err) {
      opts.log.error({ error: (err as Error).message }, 'request failed');
      sendError(res, 500, 'UNAVAILABLE', 'internal gateway error');
    }
  };
}
