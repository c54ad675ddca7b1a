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
import { API_VERSION, API_VERSION_HEADER, sendJson, sendRegistryError, type RegistryErrorFields } from '../http/responses.js';
import type { Access } from '../registry/access.js';
import { checkBody, takesBody } from '../registry/body.js';
import { buildHeaders, connectionHeader, type UpstreamHeaders } from '../registry/headers.js';
import { formatQuery, parametersFor, parseQuery } from '../registry/query.js';
import { actionsFor, parseRoute, requiredAccess, type Route } from '../registry/routes.js';
import { addressKey } from '../util/address.js';
import { clientAddressOf } from '../util/clientAddress.js';
import type { Logger } from '../util/log.js';
import { metrics, type ThrottleLimit } from '../metrics/metrics.js';
import { answerProbe, isProbePath, type Probes } from '../metrics/probes.js';
import { accessLog, entryOf, type Entry } from './accessLog.js';
import { traceOf } from './trace.js';
import { listing } from './catalog.js';
import { forwardingHeaders, rewriteLocation, validHost } from './passes.js';
import type { Shares } from './shares.js';
import { readWhole, watchDownload, watchUpload } from './transfer.js';
import type { Upstream } from './upstream.js';
import { createUpstreamApi, type UpstreamApi } from './upstreamApi.js';
import { createReferrers, INDEX_TYPE, MAX_MANIFEST, readFallback, referrerOf, referrersIndex, type Referrers } from './referrers.js';
import { createUploadOffsets, rangeFor, stateOffset, UPLOAD_PATH, type UploadOffsets } from './uploads.js';

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
  /** What the upstream serves itself of OCI 1.1 (upstreamApi.ts); unset: asked of opts.upstream. */
  upstreamApi?: UpstreamApi;
  /** Whether probes get an access log line (log.probes); default not. */
  logProbes?: boolean;
  /** Where chunked uploads stand (uploads.ts); unset: a new map per handler. */
  uploads?: UploadOffsets;
  /** The fallback indexes of referrers (referrers.ts); unset: made over opts.upstream. */
  referrers?: Referrers;
}

export function clientAddress(req: IncomingMessage): string {
  return clientAddressOf(req.socket); // behind a trusted load balancer: its PROXY header's
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
  /** The traceparent the upstream gets (trace.ts). */
  traceparent?: string;
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
  const resource = route.kind === 'repository' ? route.resource : undefined;
  const transfer = (resource === 'blobs' && ctx.method === 'GET') || (resource === 'uploads' && ['PATCH', 'PUT'].includes(ctx.method));
  ctx.entry.moves = resource === 'manifests' ? 'manifest' : transfer ? 'blob' : 'other';
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
  const release = opts.shares.acquire(addressKey(clientAddress(ctx.req)), ctx.decision!.account);
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

/** The headers of a request of the gateway's own to the upstream, on the client's behalf. */
export function ownRequestHeaders(ctx: Context, opts: HandlerOptions): Record<string, string> {
  // Who asks (the credentials when the upstream authenticates), nothing of the request's body or ranges; the
  // User-Agent says on whose behalf, and that the gateway asks (the upstream's log, the property test).
  const { authorization } = ctx.headers!;
  return {
    'user-agent': `${ctx.headers!['user-agent'] ?? ''} (registry-gateway)`.trimStart(), ...(authorization ? { authorization } : {}),
    ...forwardingHeaders(upstreamHost(ctx, opts), clientAddress(ctx.req), ctx.traceparent),
  };
}

/** The client's request as the gateway forwards it, when the gateway sends it itself (forward's headers, without Connection). */
const forwardedHeaders = (ctx: Context, opts: HandlerOptions): Record<string, string> =>
  ({ ...ctx.headers, ...forwardingHeaders(upstreamHost(ctx, opts), clientAddress(ctx.req), ctx.traceparent) });

/** Whether the caller may pull the repository: the gateway reads on a caller's behalf only what the caller may read. */
const mayPull = (ctx: Context, opts: HandlerOptions, name: string) =>
  opts.policy(ctx.decision!.account, { type: 'repository', name, actions: ['pull'] });

/** What the upstream serves itself, asked (once in a while) on a repository the caller may pull. */
const upstreamApiFor = async (ctx: Context, opts: HandlerOptions, name: string) =>
  (mayPull(ctx, opts, name) ? opts.upstreamApi!.referrers(name, ownRequestHeaders(ctx, opts)) : opts.upstreamApi!.known());

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'proxy-connection', 'upgrade', 'trailer']);

/**
 * The referrers API where the upstream has none: the referrers tag
 * schema's fallback index, filtered by artifactType (referrers.ts). An
 * upstream that has the API (or that could not be asked) answers itself.
 */
export const referrersList: Step = async (ctx, opts) => {
  const route = ctx.route!;
  if (route.kind !== 'repository' || route.resource !== 'referrers' || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return undefined;
  const headers = ownRequestHeaders(ctx, opts);
  if ((await upstreamApiFor(ctx, opts, route.name)) !== 'distribution-2') return undefined;
  const read = await readFallback(opts.upstream, route.name, route.reference!, headers);
  if (read.kind === 'failed') {
    opts.log.warn({ repository: route.name, status: read.status }, 'referrers: the fallback index could not be read');
    return refuse(502, 'UNKNOWN', `the referrers of ${route.reference} could not be read from the registry's fallback index`);
  }
  const { body, filtered } = referrersIndex(read.kind === 'index' ? read.manifests : [], ctx.params!.get('artifactType'));
  ctx.res.writeHead(200, {
    'Content-Type': INDEX_TYPE, 'Content-Length': String(body.length), [API_VERSION_HEADER]: API_VERSION,
    'X-Content-Type-Options': 'nosniff',
    ...(filtered ? { 'OCI-Filters-Applied': 'artifactType' } : {}),
  });
  ctx.res.end(ctx.method === 'HEAD' ? undefined : body);
  return 'done';
};

const MANIFEST_TYPES = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json';

/**
 * A manifest deleted by digest where the upstream has no referrers API: if it
 * refers to a subject (read from the upstream before the delete), it leaves
 * that subject's fallback index once the upstream has deleted it.
 */
export const referrerDelete: Step = async (ctx, opts) => {
  const route = ctx.route!;
  if (ctx.method !== 'DELETE' || route.kind !== 'repository' || route.resource !== 'manifests' || !route.reference?.includes(':')) {
    return undefined;
  }
  const own = ownRequestHeaders(ctx, opts);
  // Who may delete but not pull gets the delete as it is: the gateway does not read the manifest for them.
  if (!mayPull(ctx, opts, route.name) || (await upstreamApiFor(ctx, opts, route.name)) !== 'distribution-2') return undefined;
  const stored = await opts.upstream.get(ctx.path, { ...own, accept: MANIFEST_TYPES }, 30_000, false, MAX_MANIFEST).catch(() => undefined);
  const referrer = stored?.status === 200 ? referrerOf(stored.body, String(stored.headers['content-type'] ?? '')) : undefined;
  if (!referrer || referrer.descriptor.digest !== route.reference) return undefined; // nothing to update: forwarded as it is
  const answer = await opts.upstream.send('DELETE', ctx.path, forwardedHeaders(ctx, opts));
  if (answer.status === 202) await opts.referrers!.remove(route.name, referrer.subject, route.reference, own);
  const headers = Object.fromEntries(Object.entries(answer.headers).filter(([n]) => !HOP_BY_HOP.has(n)));
  ctx.entry.source = 'upstream';
  ctx.res.writeHead(answer.status, { ...headers, 'content-length': String(answer.body.length) });
  ctx.res.end(answer.body);
  return 'done';
};

/**
 * A manifest PUT where the upstream has no referrers API: the gateway reads
 * the manifest (at most 4 MiB, as distribution), sends those exact bytes on,
 * and once the upstream has stored a manifest with a `subject`, adds it to
 * the subject's fallback index and answers OCI-Subject, so that the client
 * does not also write that index. Without OCI-Subject (the index could not be
 * written) a client falls back on writing it itself, as the spec has it.
 */
export const referrerPush: Step = async (ctx, opts) => {
  const route = ctx.route!;
  if (ctx.method !== 'PUT' || route.kind !== 'repository' || route.resource !== 'manifests') return undefined;
  const own = ownRequestHeaders(ctx, opts);
  if ((await upstreamApiFor(ctx, opts, route.name)) !== 'distribution-2') return undefined;
  if (ctx.expectContinue) ctx.res.writeContinue();
  const body = await readWhole(ctx.req, MAX_MANIFEST, { stallMs: opts.bodyStallMs, minBytes: opts.bodyMinBytes ?? 1 });
  if (body === 'cut') {
    opts.log.warn({ client: clientAddress(ctx.req), path: ctx.path }, 'manifest body stalled or cut; closing the connection');
    ctx.req.destroy();
    return 'done';
  }
  if (body === 'too-large') return refuse(413, 'SIZE_INVALID', `a manifest is at most ${MAX_MANIFEST / 1024 / 1024} MiB`);
  const { 'transfer-encoding': _, 'content-length': __, ...forwarded } = forwardedHeaders(ctx, opts);
  const put = await opts.upstream.put(ctx.path + formatQuery(ctx.params!), body, forwarded, 30_000);
  const referrer = put.status === 201 ? referrerOf(body, ctx.headers!['content-type']) : undefined;
  const added = referrer ? await opts.referrers!.add(route.name, referrer.subject, referrer.descriptor, own) : false;
  const answer: NodeJS.Dict<string | string[]> = Object.fromEntries(Object.entries(put.headers).filter(([n]) => !HOP_BY_HOP.has(n)));
  rewriteLocation(put.status, answer, opts.upstream.origin, opts.publicOrigin(ctx.req));
  ctx.entry.source = 'upstream';
  ctx.res.writeHead(put.status, {
    ...answer, 'content-length': String(put.body.length), ...(added && referrer ? { 'OCI-Subject': referrer.subject } : {}),
  });
  ctx.res.end(put.body);
  return 'done';
};

/**
 * DELETE of a manifest by tag: distribution 2.8 answers DIGEST_INVALID,
 * which the spec does not allow; the spec's answer for a registry that
 * does not delete tags is 400 UNSUPPORTED. An OCI 1.1 upstream answers
 * it itself (upstreamApi.ts).
 */
export const tagDelete: Step = async (ctx, opts) => {
  const route = ctx.route!;
  if (ctx.method !== 'DELETE' || route.kind !== 'repository' || route.resource !== 'manifests' || route.reference?.includes(':')) {
    return undefined;
  }
  if ((await upstreamApiFor(ctx, opts, route.name)) === 'oci-1.1') return undefined;
  return refuse(400, 'UNSUPPORTED', `deleting a tag ('${route.reference}') is not supported by the registry behind this gateway: `
    + 'delete the manifest by its digest (DELETE /v2/<name>/manifests/<digest>), which removes every tag on it');
};

/**
 * A chunk must start where the upload stands, and a GET on an upload URL
 * says where that is (uploads.ts): distribution 2.8 gets both wrong.
 */
export const uploadOffset: Step = (ctx, opts) => {
  const route = ctx.route!;
  const m = route.kind === 'repository' && route.resource === 'uploads' ? UPLOAD_PATH.exec(ctx.path) : null;
  if (!m || route.kind !== 'repository') return undefined;
  // Offsets only grow: the larger of this process's memory and the URL's _state
  // (newer when another replica forwarded the last chunk) is where it stands.
  const fromUrl = stateOffset(ctx.params!.get('_state'));
  const remembered = opts.uploads!.known(route.name, m[2]!);
  const place = remembered && (fromUrl === undefined || remembered.offset >= fromUrl) ? remembered : undefined;
  const origin = opts.publicOrigin(ctx.req);
  if (ctx.method === 'PATCH' && ctx.headers!['content-range'] !== undefined) {
    const offset = place?.offset ?? fromUrl;
    const start = Number(ctx.headers!['content-range'].split('-')[0]);
    if (offset === undefined || start === offset) return undefined;
    const location = origin + (place?.location ?? ctx.path + formatQuery(ctx.params!));
    const message = `this chunk starts at byte ${start}, but the upload holds ${offset} bytes: `
      + `send the chunk that starts at ${offset} (GET the upload URL to see where it stands)`;
    return refuse(416, 'RANGE_INVALID', message, { Range: rangeFor(offset), Location: location });
  }
  if ((ctx.method === 'GET' || ctx.method === 'HEAD') && place) {
    ctx.res.writeHead(204, {
      Location: origin + place.location, Range: rangeFor(place.offset), 'Docker-Upload-UUID': m[2]!, 'Content-Length': '0',
      [API_VERSION_HEADER]: API_VERSION,
    });
    ctx.res.end();
    return 'done';
  }
  return undefined;
};

/** The catalog and tag lists are paginated by the gateway (catalog.ts says why). */
export const lists: Step = async (ctx, opts) => {
  const route = ctx.route!;
  if (route.kind !== 'catalog' && !(route.kind === 'repository' && route.resource === 'tags')) return undefined;
  const upstreamHeaders = ownRequestHeaders(ctx, opts); // without Accept: the gateway reads the list as JSON
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
    ...ctx.headers, ...forwardingHeaders(upstreamHost(ctx, opts), clientAddress(req), ctx.traceparent),
    ...(connection ? { connection } : {}),
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
  ['headers', headers], ['access', access], ['authorize', authorize], ['mount', mount], ['share', share],
  ['uploadOffset', uploadOffset], ['tagDelete', tagDelete],
  ['referrersList', referrersList], ['referrerPush', referrerPush], ['referrerDelete', referrerDelete],
  ['lists', lists],
  ['socket', socket], ['forward', forward],
];

function noteUpload(uploads: UploadOffsets, req: IncomingMessage, status: number, location: string | undefined): void {
  const path = (req.url ?? '').split('?')[0]!;
  const route = parseRoute(path);
  if (route.kind !== 'repository' || route.resource !== 'uploads') return;
  uploads.observe(route.name, UPLOAD_PATH.exec(path)?.[2], req.method ?? '', status, location);
}

const UPSTREAM_STEPS = new Set(['lists', 'tagDelete', 'referrersList', 'referrerPush', 'referrerDelete']);

function upstreamFailed(err: Error, res: ServerResponse | Socket, opts: HandlerOptions): void {
  if (!('writeHead' in res)) return;
  const code = (err as NodeJS.ErrnoException).code ?? err.message;
  opts.log.warn({ upstream: opts.upstream.origin, error: code }, 'upstream request failed');
  // Where the upstream is helps an attacker aim past the gateway: the log has it, the answer does not.
  sendRegistryError(res, { status: 503, code: 'UNAVAILABLE', message: 'the upstream registry is unavailable; try again later' });
}

export function createHandler(options: HandlerOptions, steps: readonly [string, Step][] = STEPS) {
  const opts: HandlerOptions = {
    ...options, upstreamApi: options.upstreamApi ?? createUpstreamApi(options.upstream), uploads: options.uploads ?? createUploadOffsets(),
    referrers: options.referrers ?? createReferrers(options.upstream, (why, name, subject) => {
      const message = 'referrers: the fallback index was not updated; the client is told by no OCI-Subject';
      options.log.warn({ repository: name, subject, why }, message);
    }),
  };
  opts.upstream.proxy.on('proxyRes', (proxyRes, req) => {
    // Read before the rewrite: the upstream's own Location, on the request URL the gateway wrote (forward).
    noteUpload(opts.uploads!, req, proxyRes.statusCode ?? 0, proxyRes.headers.location);
    const entry = entryOf(req);
    if (entry) entry.source = 'upstream';
    rewriteLocation(proxyRes.statusCode ?? 0, proxyRes.headers, opts.upstream.origin, opts.publicOrigin(req));
  });

  return async function handle(req: IncomingMessage, res: ServerResponse, expectContinue = false): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const trace = traceOf(req.headers.traceparent);
    const ctx: Context = {
      req, res, expectContinue,
      method: req.method ?? '',
      path: q === -1 ? url : url.slice(0, q),
      rawQuery: q === -1 ? '' : url.slice(q + 1),
      entry: accessLog(req, res, opts.log, opts.logProbes),
      traceparent: trace.traceparent,
    };
    ctx.entry.requestId = trace.id;
    for (const [name, step] of steps) {
      let result: StepResult;
      try {
        result = await step(ctx, opts);
      } catch (err) {
        // These steps read the upstream themselves: a failure there is the upstream's.
        if (UPSTREAM_STEPS.has(name)) return upstreamFailed(err as Error, res, opts);
        opts.log.error({ step: name, error: (err as Error).message }, 'request failed');
        return sendRegistryError(res, refuse(500, 'UNKNOWN', 'internal gateway error'));
      }
      if (result === 'done') return;
      if (result) return sendRegistryError(res, result);
    }
  };
}
