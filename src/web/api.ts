// Calls to /ui/api/: same origin, the session cookie goes by itself. Every
// non-2xx becomes an ApiError; a 401 is also told to the app (onUnauthorized),
// which ends a session that the gateway no longer accepts.
import { ApiError, apiError } from './lib/errors.js';
import type {
  ManifestDetail, PlatformManifest, PullSecret, RepositoryPage, RepositorySummaries, Session, Setup, TagOrder, TagPage,
} from './lib/types.js';

const API = '/ui/api/';

let unauthorized: (error: ApiError) => void = () => {};

/** Who hears of a 401 from any call but the login itself. */
export function onUnauthorized(listener: (error: ApiError) => void): void {
  unauthorized = listener;
}

interface Options {
  method?: 'GET' | 'POST' | 'DELETE';
  body?: unknown;
  signal?: AbortSignal;
  /** The login's own 401 is a wrong password, not an ended session. */
  quiet401?: boolean;
}

type Params = Record<string, string | number | readonly string[] | null | undefined>;

async function call<T>(path: string, params: Params, options: Options = {}): Promise<T> {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (Array.isArray(value)) for (const v of value) query.append(key, v);
    else if (value !== null && value !== undefined && value !== '') query.set(key, String(value));
  }
  const url = `${API}${path}${query.size ? `?${query}` : ''}`;
  const init: RequestInit = {
    method: options.method ?? 'GET',
    headers: { Accept: 'application/json' },
    credentials: 'same-origin',
    cache: 'no-store',
  };
  if (options.signal) init.signal = options.signal;
  if (options.body !== undefined) {
    // The gateway takes bodies only as JSON (and checks Origin, which the browser sends).
    init.headers = { Accept: 'application/json', 'Content-Type': 'application/json' };
    init.body = JSON.stringify(options.body);
  }
  let response: Response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error;
    throw new ApiError(0, 'NETWORK', 'The gateway could not be reached: check the connection and reload the page.');
  }
  const text = await response.text();
  let body: unknown = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
  }
  if (!response.ok) {
    const error = apiError(response.status, body, response.headers.get('Retry-After'));
    if (response.status === 401 && !options.quiet401) unauthorized(error);
    throw error;
  }
  return body as T;
}

export const api = {
  session: (signal?: AbortSignal) => call<Session>('session', {}, signal ? { signal } : {}),
  login: (username: string, password: string) =>
    call<{ user: string; expiresAt: string | null }>('session', {}, { method: 'POST', body: { username, password }, quiet401: true }),
  logout: () => call<null>('session', {}, { method: 'DELETE', quiet401: true }),
  repositories: (q: string, last: string | null, n: number, signal?: AbortSignal) =>
    call<RepositoryPage>('repositories', { q, last, n }, signal ? { signal } : {}),
  /** The extra columns for these repositories (at most 25 a call). */
  repositorySummaries: (names: readonly string[], signal?: AbortSignal) =>
    call<RepositorySummaries>('repositories/summary', { name: names }, signal ? { signal } : {}),
  /** A page of tags in the server's order (version, newest first), those with `q` in their name. */
  tags: (name: string, page: { last: string | null; n: number; sort: TagOrder; q?: string }, signal?: AbortSignal) =>
    call<TagPage>('repositories/tags', { name, ...page }, signal ? { signal } : {}),
  manifest: (name: string, ref: string, signal?: AbortSignal) =>
    call<ManifestDetail>('manifest', { name, ref }, signal ? { signal } : {}),
  /** One platform of an index in full (its manifest, layers and config), as the page opens it. */
  platform: (name: string, ref: string, digest: string, signal?: AbortSignal) =>
    call<PlatformManifest>('manifest', { name, ref, platform: digest }, signal ? { signal } : {}),
  deleteManifest: (name: string, digest: string) => call<null>('manifest', { name, digest }, { method: 'DELETE' }),
  setup: (signal?: AbortSignal) => call<Setup>('setup', {}, signal ? { signal } : {}),
  pullSecret: (namespace: string, name: string) => call<PullSecret>('pull-secret', { namespace, name }),
};
