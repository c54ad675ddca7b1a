// One request, start to finish, as an ordered list of named steps (after
// node-http-proxy's passes): each reads and adds to the request's context,
// and either lets the next one run, answers the request itself, or refuses
// it with a registry error, which is sent here and nowhere else. Whatever
// the upstream executes is exactly what the steps authorized.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { AccessController, Decision } from '../auth/controller.js';
import type { Endpoint } from '../http/endpoint.js';
import type { Policy } from '../auth/policy.js';
import { sendJson, sendRegistryError, type RegistryErrorFields } from '../http/responses.js';
import type { Access } from '../registry/access.js';
import { checkBody, takesBody } from '../registry/body.js';
import { buildHeaders, connectionHeader, type UpstreamHeaders } from '../registry/headers.js';
import { formatQuery, parametersFor, parseQuery } from '../registry/query.js';
import { actionsFor, parseRoute, requiredAccess, type Route } from '../registry/routes.js';
import { plainAddress, addressKey } from '../util/address.js';
import type { Logger } from '../util/log.js';
import { metrics, type ThrottleLimit } from '../metrics/metrics.js';
import { answerProbe, isProbePath, type Probes } from '../metrics/probes.js';
import { accessLog, type Entry } from './accessLog.js';
import { listing } from './catalog.js';
import { forwardingHeaders, rewriteLocation, validHost } from './passes.js';
import type { Shares } from './shares.js';
import { watchDownload, watchUpload } from './transfer.js';
import type { Upstream } from './upstream.js';

export interface HandlerOptions {
  controller: AccessController;
  /** What the access rules allow: the catalog shows only what an account may pull. */
  policy: Policy;
  upstream: Upstream;
  log: Logger;
  /** https://host:port clients use: publicUrl's, or else the Host each client sent. */
  publicOrigin: (req: IncomingMessage) => string;
  /** publicUrl's host:port, sent upstream as Host whatever the client sent; undefined without publicUrl. */
  publicHost?: string | undefined;
  /** Whether a Host may be reflected into URLs (named by the server certificate). */
  hostAllowed: (host: string) => boolean;
  shares: Shares;
  /** A request body that sends nothing for this long is cut; so is a response the client stops reading. */
  bodyStallMs: number;
  /** A request body moving fewer bytes than this per bodyStallMs is cut (default 1: only a full stall). */
  bodyMinBytes?: number;
  /** How long a request waits for a socket of the upstream pool before 503 (default 10 s). */
  poolWaitMs?: number;
  /** Paths answered by the gateway itself before any auth: the auth mode's (/token) and /trust/. */
  endpoints: Endpoint[];
  /** /livez, /startupz and /readyz (server/health.ts); without them only /healthz is answered. */
  probes?: Probes | undefined;
  /**
   * Whether the upstream answers, as /readyz last found it (cached for a
   * second, server/health.ts): /healthz is anyone's to call, and must not
   * cost the upstream a request each time. Unset: asked on each call.
   */
  upstreamHealthy?: (() => Promise<boolean>) | undefined;
}

export function clientAddress(req: IncomingMessage): string {
  return plainAddress(req.socket.remoteAddress);
}

/** What the steps know about one request so far. */
export interface Context {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  path: string;
  rawQuery: string;
  entry: Entry;
  expectContinue: boolean;
  route?: Exclude<Route, { kind: 'invalid' }>;
  params?: Map<string, string>;
  /** Whether the route takes a body on this request (registry/body.ts). */
  body?: boolean;
  /** The headers the upstream will read, built from the parse of the client's (registry/headers.ts). */
  headers?: UpstreamHeaders;
  access?: Access[];
  decision?: Extract<Decision, { kind: 'grant' }>;
}

/** undefined: go on; 'done': the step answered; a refusal: sent as the registry's JSON error. */
export type StepResult = undefined | 'done' | RegistryErrorFields;
export type Step = (ctx: Context, opts: HandlerOptions) => StepResult | Promise<StepResult>;

type Code = RegistryErrorFields['code'];
const refuse = (status: number, code: Code, message: string, headers: Record<string, string> = {}): RegistryErrorFields =>
  ({ status, code, message, headers });

/** Whether the upstream answers /v2/ below 500; why not is logged (with its address), never answered. */
export async function upstreamReachable(upstream: Upstream, log: Logger, timeoutMs: number): Promise<boolean> {
  try {
    return (await upstream.get('/v2/', {}, timeoutMs, true)).status < 500;
  } catch (err) {
    const error = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    log.warn({ upstream: upstream.origin, error }, 'health check: upstream unreachable');
    return false;
  }
}

/**
 * Up or not, for probes and anyone else; where the upstream is and why it
 * failed is for operators, who have it in the log (it helps an attacker
 * aim past the gateway). Before the Host check: probes connect by address.
 */
export const health: Step = async (ctx, opts) => {
  if (opts.probes && isProbePath(ctx.path)) {
    ctx.entry.kind = 'health';
    await answerProbe(ctx.req, ctx.res, ctx.path, opts.probes);
    return 'done';
  }
  if (ctx.path !== '/healthz') return undefined;
  ctx.entry.kind = 'health';
  const reachable = opts.upstreamHealthy ? await opts.upstreamHealthy() : await upstreamReachable(opts.upstream, opts.log, 3000);
  sendJson(ctx.res, reachable ? 200 : 503, { status: reachable ? 'ok' : 'degraded', upstream: { reachable } });
  return 'done';
};

/** The auth mode's own paths (/token) and /trust/: answered before any registry check. */
export const endpoints: Step = async (ctx, opts) => {
  const endpoint = opts.endpoints.find((e) => e.paths.has(ctx.path) && (e.takes?.(ctx.req) ?? true));
  if (!endpoint) return undefined;
  ctx.entry.kind = endpoint.kind;
  await endpoint.handle(ctx.req, ctx.res, ctx.path, new URLSearchParams(ctx.rawQuery), ctx.entry);
  return 'done';
};

/** Host goes into the URLs the registry builds: a plain host[:port] the certificate names, or publicUrl's. */
export const host: Step = (ctx, opts) => {
  if (!validHost(ctx.req)) return refuse(400, 'NAME_INVALID', 'missing or malformed Host header: expected host[:port]');
  if (opts.publicHost || opts.hostAllowed(ctx.req.headers.host!)) return undefined;
  const name = ctx.req.headers.host;
  const fix = 'connect by one of its names on the port it listens on, or set publicUrl';
  return refuse(400, 'UNSUPPORTED', `Host '${name}' is not a name in the gateway's certificate with its port: ${fix}`);
};

export const route: Step = (ctx) => {
  const route = parseRoute(ctx.path);
  if (route.kind === 'invalid') return route;
  ctx.route = route;
  if (route.kind === 'repository') ctx.entry.repository = route.name;
  // For the metrics: what it is from method and path, before any check refuses it.
  ctx.entry.kind = route.kind === 'catalog' ? 'catalog' : route.kind === 'repository' ? (actionsFor(ctx.method)?.at(-1) ?? 'other') : 'other';
  return undefined;
};

export const query: Step = (ctx) => {
  const params = parseQuery(ctx.rawQuery, parametersFor(ctx.method, ctx.route!, ctx.path), ctx.route!);
  if ('kind' in params) return params;
  ctx.params = params;
  return undefined;
};

export const body: Step = (ctx) => {
  ctx.body = takesBody(ctx.method, ctx.route!, ctx.path, ctx.params!);
  return checkBody(ctx.req, ctx.body);
};

/** Before auth: a header the registry reads must parse strictly, and is then written anew. */
export const headers: Step = (ctx, opts) => {
  const built = buildHeaders(ctx.req.headers, {
    method: ctx.method, route: ctx.route!, body: ctx.body!, forwardsCredentials: opts.controller.forwardsCredentials,
  });
  if ('kind' in built) return built;
  ctx.headers = built.headers;
  return undefined;
};

/** Host as the registry builds URLs from it: publicUrl's, else the certified one the client sent. */
const upstreamHost = (ctx: Context, opts: HandlerOptions) => opts.publicHost ?? ctx.req.headers.host!;

export const access: Step = (ctx) => {
  const access = requiredAccess(ctx.method, ctx.route!, ctx.params!);
  if (!access) return refuse(405, 'UNSUPPORTED', `${ctx.method} is not supported on ${ctx.path}`);
  ctx.access = access;
  if (ctx.route!.kind === 'repository') ctx.entry.action = actionsFor(ctx.method)!.at(-1)!;
  return undefined;
};

export const authorize: Step = async (ctx, opts) => {
  const decision = await opts.controller.authorized(ctx.req, ctx.access!);
  ctx.entry.user = decision.account;
  if (decision.kind === 'challenge') return decision;
  ctx.decision = decision;
  return undefined;
};

/** A mount whose source the account may not pull becomes a plain upload (and answers 202 either way: no oracle). */
export const mount: Step = (ctx) => {
  const source = ctx.access!.find((a) => a.optional);
  if (source && !ctx.decision!.granted.includes(source)) {
    ctx.params!.delete('mount');
    ctx.params!.delete('from');
  }
  return undefined;
};

/** The client's share of the upstream, held until its response closes. */
export const share: Step = (ctx, opts) => {
  const release = opts.shares.acquire(addressKey(ctx.req.socket.remoteAddress), ctx.decision!.account);
  if (typeof release === 'function') {
    ctx.res.once('close', release);
    return undefined;
  }
  const who = { upstreamPerAddress: 'this address', upstreamAnonymous: 'anonymous clients', upstreamPerAccount: 'this account' }[
    release.limit];
  const message = `too many requests in flight from ${who} (at most ${release.max}: limits.${release.limit})`;
  metrics.throttled(release.limit satisfies ThrottleLimit);
  return refuse(429, 'TOOMANYREQUESTS', message, { 'Retry-After': '1' });
};

/** A socket of the upstream pool, waited for at most poolWaitMs (pool.ts), held until the response closes. */
export const socket: Step = async (ctx, opts) => {
  let gone = false;
  ctx.res.once('close', () => (gone = true));
  const release = await opts.upstream.pool.acquire(opts.poolWaitMs ?? 10_000, () => gone);
  if (release) {
    if (gone) release();
    else ctx.res.once('close', release);
    return gone ? 'done' : undefined;
  }
  if (gone) return 'done';
  metrics.throttled('upstreamSockets');
  opts.log.warn({ client: clientAddress(ctx.req), waitedMs: opts.poolWaitMs ?? 10_000 }, 'no upstream socket free; answering 503');
  const message = 'every socket to the upstream registry is busy (limits.upstreamSockets); retry shortly';
  return refuse(503, 'UNAVAILABLE', message, { 'Retry-After': '5' });
};

/** The catalog and tag lists are paginated by the gateway (catalog.ts says why). */
export const lists: Step = async (ctx, opts) => {
  const route = ctx.route!;
  if (route.kind !== 'catalog' && !(route.kind === 'repository' && route.resource === 'tags')) return undefined;
  const { accept: _, ...built } = ctx.headers!; // the gateway reads the list as JSON, whatever the client accepts
  const upstreamHeaders = { ...built, ...forwardingHeaders(upstreamHost(ctx, opts), clientAddress(ctx.req)) };
  const canPull = (name: string) => opts.policy(ctx.decision!.account, { type: 'repository', name, actions: ['pull'] });
  await listing(ctx.req, ctx.res, route, ctx.params!, { upstream: opts.upstream, headers: upstreamHeaders, canPull });
  return 'done';
};

/**
 * The request the upstream receives, all of it written by the gateway: the
 * path and query from their parse, the headers built before auth, the
 * forwarding headers. Nothing of the client's request line or headers is copied.
 */
export const forward: Step = (ctx, opts) => {
  const { req, res } = ctx;
  const connection = connectionHeader(req.headers);
  req.url = ctx.path + formatQuery(ctx.params!);
  req.headers = {
    ...ctx.headers, ...forwardingHeaders(upstreamHost(ctx, opts), clientAddress(req)), ...(connection ? { connection } : {}),
  };
  // Authorized: now let the client send the body. Expect goes no further.
  if (ctx.expectContinue) res.writeContinue();
  watchUpload(req, { stallMs: opts.bodyStallMs, minBytes: opts.bodyMinBytes ?? 1 }, () => {
    opts.log.warn({ client: clientAddress(req), path: ctx.path }, 'request body stalled or trickling; closing the connection');
    req.destroy();
  });
  watchDownload(res, opts.bodyStallMs, () => {
    opts.log.warn({ client: clientAddress(req), path: ctx.path }, 'client stopped reading the response; closing the connection');
    res.destroy();
  });
  opts.upstream.proxy.web(req, res, {}, (err) => {
    metrics.upstreamError(err);
    upstreamFailed(err, res, opts);
  });
  return 'done';
};

/** The request path, in order. */
export const STEPS: readonly [string, Step][] = [
  ['health', health], ['endpoints', endpoints], ['host', host], ['route', route], ['query', query], ['body', body],
  ['headers', headers], ['access', access], ['authorize', authorize], ['mount', mount], ['share', share], ['lists', lists],
  ['socket', socket], ['forward', forward],
];

function upstreamFailed(err: Error, res: ServerResponse | Socket, opts: HandlerOptions): void {
  if (!('writeHead' in res)) return;
  const code = (err as NodeJS.ErrnoException).code ?? err.message;
  opts.log.warn({ upstream: opts.upstream.origin, error: code }, 'upstream request failed');
  // Where the upstream is helps an attacker aim past the gateway: the log has it, the answer does not.
  sendRegistryError(res, { status: 503, code: 'UNAVAILABLE', message: 'the upstream registry is unavailable; try again later' });
}

export function createHandler(opts: HandlerOptions, steps: readonly [string, Step][] = STEPS) {
  opts.upstream.proxy.on('proxyRes', (proxyRes, req) => {
    rewriteLocation(proxyRes.statusCode ?? 0, proxyRes.headers, opts.upstream.origin, opts.publicOrigin(req));
  });

  return async function handle(req: IncomingMessage, res: ServerResponse, expectContinue = false): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const ctx: Context = {
      req, res, expectContinue,
      method: req.method ?? '',
      path: q === -1 ? url : url.slice(0, q),
      rawQuery: q === -1 ? '' : url.slice(q + 1),
      entry: accessLog(req, res, opts.log),
    };
    for (const [name, step] of steps) {
      let result: StepResult;
      try {
        result = await step(ctx, opts);
      } catch (err) {
        // The lists read the upstream themselves: a failure there is the upstream's.
        if (name === 'lists') return upstreamFailed(err as Error, res, opts);
        opts.log.error({ step: name, error: (err as Error).message }, 'request failed');
        return sendRegistryError(res, refuse(500, 'UNKNOWN', 'internal gateway error'));
      }
      if (result === 'done') return;
      if (result) return sendRegistryError(res, result);
    }
  };
}
