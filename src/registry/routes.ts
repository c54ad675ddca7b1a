// Strict parsing of Docker Registry HTTP API V2 / OCI distribution paths, and
// the access each request needs (as distribution maps them). Anything that is
// not exactly one of these routes never reaches the upstream.
import type { Access, Action } from './access.js';
import { invalid, type Invalid } from '../http/responses.js';

export type Route =
  | { kind: 'base' }
  | { kind: 'catalog' }
  | { kind: 'repository'; name: string; resource: 'manifests' | 'blobs' | 'uploads' | 'tags' | 'referrers' };

export type RouteError = Invalid;

// distribution/reference: path-component, joined by "/", at most 255 characters.
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const NAME = `${COMPONENT}(?:/${COMPONENT})*`;
/** A whole repository name, as in distribution's reference grammar (length checked apart). */
export const REPOSITORY_NAME = new RegExp(`^${NAME}$`);
export const TAG_PATTERN = '[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}';
export const DIGEST_PATTERN = '[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+';
const TAG = TAG_PATTERN;
const DIGEST = DIGEST_PATTERN;
const UUID = '[A-Za-z0-9_.=-]+';
export const MAX_NAME_LENGTH = 255;

const PATTERNS: [RegExp, Route['kind'], Exclude<Route, { kind: 'base' | 'catalog' }>['resource']?][] = [
  [new RegExp(`^/v2/(${NAME})/manifests/(?:${TAG}|${DIGEST})$`), 'repository', 'manifests'],
  [new RegExp(`^/v2/(${NAME})/blobs/uploads/(?:${UUID})?$`), 'repository', 'uploads'],
  [new RegExp(`^/v2/(${NAME})/blobs/${DIGEST}$`), 'repository', 'blobs'],
  [new RegExp(`^/v2/(${NAME})/tags/list$`), 'repository', 'tags'],
  [new RegExp(`^/v2/(${NAME})/referrers/${DIGEST}$`), 'repository', 'referrers'],
];

export function parseRoute(path: string): Route | RouteError {
  // No percent-encoding at all: registry paths never need it, and decoding is
  // how "%2e%2e" and "%2f" smuggle a different path past a check.
  if (!/^[A-Za-z0-9._\-/:=]*$/.test(path)) return invalid(400, 'NAME_INVALID', 'invalid characters in the request path');
  if (path === '/v2/' || path === '/v2') return { kind: 'base' };
  if (path === '/v2/_catalog') return { kind: 'catalog' };
  for (const [re, , resource] of PATTERNS) {
    const m = re.exec(path);
    if (!m) continue;
    const name = m[1]!;
    if (name.length > MAX_NAME_LENGTH) return invalid(400, 'NAME_INVALID', `repository name longer than ${MAX_NAME_LENGTH} characters`);
    return { kind: 'repository', name, resource: resource! };
  }
  if (path.startsWith('/v2/')) return invalid(404, 'NOT_FOUND', 'not a registry API path, or an invalid repository name');
  return invalid(404, 'NOT_FOUND', 'not found');
}

/** The actions a method needs on a repository, as distribution maps them; the last is the one it is logged as. */
export function actionsFor(method: string): Action[] | undefined {
  switch (method) {
    case 'GET':
    case 'HEAD':
      return ['pull'];
    case 'POST':
    case 'PUT':
    case 'PATCH':
      return ['pull', 'push'];
    case 'DELETE':
      return ['delete'];
    default:
      return undefined;
  }
}

/** The access a request needs; undefined when the method makes no sense for the route. */
/** Parsed query parameters: the gateway's own Map, or URLSearchParams. */
export interface Parameters {
  has(key: string): boolean;
  get(key: string): string | null | undefined;
}

export function requiredAccess(method: string, route: Route, query: Parameters): Access[] | undefined {
  if (route.kind === 'base') return method === 'GET' || method === 'HEAD' ? [] : undefined;
  if (route.kind === 'catalog') {
    return method === 'GET' || method === 'HEAD' ? [{ type: 'registry', name: 'catalog', actions: ['*'] }] : undefined;
  }
  const actions = actionsFor(method);
  if (!actions) return undefined;
  const access: Access[] = [{ type: 'repository', name: route.name, actions }];
  const from = query.get('from');
  if (route.resource === 'uploads' && method === 'POST' && query.has('mount') && from) {
    // Mounting needs pull on the source; without it the request goes on as a
    // plain upload (distribution does the same), so nothing leaks.
    access.push({ type: 'repository', name: from, actions: ['pull'], optional: true });
  }
  return access;
}
