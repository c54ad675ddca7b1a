// The web UI at /ui: its files (static.ts) and its JSON API under /ui/api/.
// Answered before the registry steps (an Endpoint, as /token and /trust/
// are), so it makes the same checks itself: a Host the certificate names,
// who the viewer is (the session cookie, session.ts), what the rules let
// them see (the handler's own Policy, access.ts), and for anything that
// changes state an Origin of this gateway's own (origin.ts).
import type { X509Certificate } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Accounts } from '../auth/mode.js';
import type { Policy } from '../auth/policy.js';
import type { AuthModeName } from '../config/config.js';
import type { Endpoint } from '../http/endpoint.js';
import { metrics } from '../metrics/metrics.js';
import { validHost } from '../proxy/passes.js';
import type { Upstream } from '../proxy/upstream.js';
import { ANONYMOUS } from '../registry/access.js';
import type { Trust } from '../trust/endpoint.js';
import type { Logger } from '../util/log.js';
import type { Viewer } from './access.js';
import { field, noBody, readJson } from './body.js';
import { createImageReader } from './images.js';
import { createManifests } from './manifest.js';
import { checkOrigin, ownOrigins } from './origin.js';
import { checkParams } from './params.js';
import { pullSecretYaml, secretParams } from './pullSecret.js';
import { send, sendError, sendJson, UiError } from './reply.js';
import { createLists } from './repositories.js';
import type { Revocations } from './revocations.js';
import { UI_PATHS } from './lazy.js';
import { clearedCookie, createSessions, readSessionCookie, sessionCookie, type Session } from './session.js';
import { PULL_SECRET_NAME, setupData } from './setup.js';
import { serveStatic, WEB_ROOT } from './static.js';

export interface UiOptions {
  mode: AuthModeName;
  /** The auth mode's accounts; undefined: nobody logs in (auth.mode none). */
  accounts: Accounts | undefined;
  policy: Policy;
  upstream: Upstream;
  log: Logger;
  /** publicUrl's origin and host:port, when set. */
  publicOrigin: string | undefined;
  publicHost: string | undefined;
  /** Whether the certificate names a Host (the handler's check). */
  hostAllowed: (host: string) => boolean;
  clientAddress: (req: IncomingMessage) => string;
  trust: () => Trust | undefined;
  certificate: () => X509Certificate;
  /** Session signing keys, current first (session.ts's sessionKey of server.key). */
  sessionKeys: () => readonly Uint8Array[];
  revocations: Revocations;
  webRoot?: string;
}

/** /ui and every path under it. */
const MAX_USER = 256;
const MAX_PASSWORD = 1024;

type Method = 'GET' | 'POST' | 'DELETE';
interface Call {
  req: IncomingMessage;
  res: ServerResponse;
  query: URLSearchParams;
  viewer: Viewer;
  session: Session | undefined;
  /** Headers every answer to this request carries (a renewed or cleared cookie). */
  headers: Record<string, string>;
}
type Answer = { status: number; body?: unknown };
type Route = Partial<Record<Method, (call: Call) => Promise<Answer>>>;

export function createUi(opts: UiOptions): Endpoint {
  const accounts = opts.accounts;
  const sessions = accounts
    ? createSessions({ keys: opts.sessionKeys, stamp: (u) => accounts.stamp(u), revocations: opts.revocations })
    : undefined;
  const headers = () => ({ host: opts.publicHost ?? opts.upstream.url.host, 'x-forwarded-proto': 'https', 'user-agent': 'registry-gateway-ui' });
  const images = createImageReader({ upstream: opts.upstream, headers });
  const lists = createLists({ upstream: opts.upstream, headers, policy: opts.policy, images });
  const manifests = createManifests({ policy: opts.policy, images, lists });
  const ok = (body: unknown): Answer => ({ status: 200, body });
  /** host:port as clients write it (no :443): publicUrl's, else the certified Host this came to. */
  const registryOf = (req: IncomingMessage) => new URL(`https://${opts.publicHost ?? req.headers.host}`).host;
  /** The addresses clients use (publicUrl's, or every name of the certificate), `first` first. */
  const registriesOf = (first: string) => [first, ...(opts.trust()?.addresses ?? []).filter((a) => a !== first)];

  const login = async (call: Call): Promise<Answer> => {
    checkParams(call.query, []);
    if (!accounts || !sessions) {
      throw new UiError(400, 'UNSUPPORTED', 'auth.mode none has no accounts: everyone browses anonymously, and nobody logs in');
    }
    const body = await readJson(call.req);
    const username = field(body, 'username', MAX_USER);
    const password = field(body, 'password', MAX_PASSWORD);
    const result = await accounts.login.login(username, password, opts.clientAddress(call.req));
    if (!result.ok) {
      if (result.status === 429) {
        metrics.throttled('logins');
        const retryAfter = result.retryAfter ?? 1;
        throw new UiError(429, 'TOO_MANY_REQUESTS', result.message, { retryAfter }, { 'Retry-After': String(retryAfter) });
      }
      metrics.authFailure('bad_password');
      throw new UiError(401, 'UNAUTHORIZED', result.message);
    }
    const { token, session } = await sessions.start(result.account);
    call.headers['Set-Cookie'] = sessionCookie(token, session);
    return ok({ user: session.user, expiresAt: new Date(session.expiresAt).toISOString() });
  };

  const routes: Record<string, Route> = {
    '/ui/api/session': {
      GET: async ({ query, session }) => {
        checkParams(query, []);
        return ok({ user: session?.user ?? null, mode: opts.mode, expiresAt: session ? new Date(session.expiresAt).toISOString() : null });
      },
      POST: login,
      DELETE: async (call) => {
        checkParams(call.query, []);
        if (call.session) await sessions!.end(call.session);
        call.headers['Set-Cookie'] = clearedCookie;
        return { status: 204 };
      },
    },
    '/ui/api/repositories': { GET: async ({ viewer, query }) => ok(await lists.repositories(viewer, query)) },
    '/ui/api/repositories/tags': { GET: async ({ viewer, query }) => ok(await lists.tags(viewer, query)) },
    '/ui/api/repositories/summary': { GET: async ({ viewer, query }) => ok(await lists.summaries(viewer, query)) },
    '/ui/api/manifest': {
      GET: async ({ viewer, query }) => ok(await manifests.show(viewer, query)),
      DELETE: async ({ viewer, query }) => ({ status: 202, body: await manifests.remove(viewer, query) }),
    },
    '/ui/api/setup': {
      GET: async ({ req, query }) => {
        checkParams(query, []);
        const registry = registryOf(req);
        return ok(setupData({
          registry, registries: registriesOf(registry), trust: opts.trust(), certificate: opts.certificate(),
          logins: accounts !== undefined,
        }));
      },
    },
    '/ui/api/pull-secret': {
      GET: async ({ req, query, session }) => {
        const { namespace, name } = secretParams(query);
        if (!session) throw new UiError(401, 'UNAUTHORIZED', 'log in to get a pull secret for your account');
        const registry = registryOf(req);
        // Every address the certificate names (as the setup command does), this browser's first: nodes cannot use localhost.
        const registries = registriesOf(registry);
        const common = { name, namespace, registry, registries };
        if (!accounts?.pullToken) return ok({ yaml: null, template: true, ...common });
        const { token, expiresAt } = await accounts.pullToken(session.user);
        return ok({ yaml: pullSecretYaml(registries, session.user, token, namespace, name), template: false, expiresAt, ...common });
      },
    },
  };

  /** Who is asking: the session the cookie carries, if it is still good; a bad one is cleared. */
  async function viewerOf(req: IncomingMessage, headers: Record<string, string>): Promise<{ viewer: Viewer; session?: Session }> {
    const anonymous = { viewer: { account: ANONYMOUS, canLogin: accounts !== undefined } };
    if (!sessions) return anonymous;
    const token = readSessionCookie(req.headers.cookie);
    if (token === undefined) return anonymous;
    const session = await sessions.check(token);
    if (!session) {
      headers['Set-Cookie'] = clearedCookie;
      return anonymous;
    }
    const renewed = await sessions.renew(session);
    if (renewed) headers['Set-Cookie'] = sessionCookie(renewed.token, renewed.session);
    const current = renewed?.session ?? session;
    return { viewer: { account: current.user, canLogin: true }, session: current };
  }

  async function api(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    const extra: Record<string, string> = {};
    try {
      const route = routes[path];
      if (!route) throw new UiError(404, 'NOT_FOUND', `no API at ${path}`);
      const method = (req.method === 'HEAD' ? 'GET' : req.method) as Method;
      const handler = route[method];
      const allow = Object.keys(route).flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m])).join(', ');
      if (!handler) throw new UiError(405, 'METHOD_NOT_ALLOWED', `${req.method} is not supported on ${path}: use ${allow}`, {}, { Allow: allow });
      // Before anything is read or done: a forged request learns nothing.
      checkOrigin(req, ownOrigins(req.headers.host, opts.publicOrigin));
      if (!(path === '/ui/api/session' && method === 'POST')) noBody(req);
      const { viewer, session } = await viewerOf(req, extra);
      const answer = await handler({ req, res, query, viewer, session, headers: extra });
      if (answer.body === undefined) send(res, answer.status, '', undefined, extra);
      else sendJson(res, answer.status, answer.body, extra);
    } catch (err) {
      if (err instanceof UiError) {
        sendError(res, new UiError(err.status, err.code, err.message, err.extra, { ...extra, ...err.headers }));
        return;
      }
      opts.log.error({ path, error: (err as Error).message }, 'web UI request failed');
      sendError(res, new UiError(500, 'INTERNAL', 'internal gateway error (the gateway log says more)', {}, extra));
    }
  }

  return {
    paths: UI_PATHS,
    kind: 'ui',
    async handle(req, res, path, query) {
      // The handler's Host check, which endpoints come before: only names the certificate holds.
      const host = req.headers.host;
      if (!validHost(req) || !(opts.publicHost || opts.hostAllowed(host!))) {
        send(res, 400, 'text/plain; charset=utf-8', `Host '${host ?? ''}' is not a name in the gateway's certificate with its port: `
          + 'connect by one of its names on the port it listens on, or set publicUrl\n');
        return;
      }
      if (path === '/ui/api' || path.startsWith('/ui/api/')) return api(req, res, path, query);
      return serveStatic(req, res, path, opts.webRoot ?? WEB_ROOT);
    },
  };
}
