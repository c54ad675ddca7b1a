// Strict parsing of Docker Registry HTTP API V2 / OCI distribution paths, and
// the access each request needs (as distribution maps them). Anything that is
// not exactly one of these routes never reaches the upstream.
import type { Access, Action } from './access.js';
import { invalid, type Invalid } from '../http/responses.js';

export type Route =
  | { kind: 'base' }
  | { kind: 'catalog' }
  | {
    kind: 'repository'; name: string; resource: 'manifests' | 'blobs' | 'uploads' | 'tags' | 'referrers';
    /** The tag or digest of a manifest, the digest of a blob or of a referrers subject; checked by `parseRoute`. */
    reference?: string;
  };

export type RouteError = Invalid;

// distribution/reference: path-component, joined by "/", at most 255 characters.
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const NAME = `${COMPONENT}(?:/${COMPONENT})*`;
/** A whole repository name, as in distribution's reference grammar (length checked apart). */
export const REPOSITORY_NAME = new RegExp(`^${NAME}$`);
export const TAG_PATTERN = '[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}';
export const DIGEST_PATTERN = '[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+';
const UUID = '[A-Za-z0-9_.=-]+';
// Whatever could be meant as a reference: matched broadly, then checked, so
// that a malformed one is the registry's 400 here, not a 404 (or, from
// distribution 2.8, a 500 for a digest it cannot parse).
const REFERENCE = '([A-Za-z0-9_.:=+-]+)';
/** The digest algorithms distribution verifies, and their hex lengths (go-digest). */
const DIGEST_LENGTHS: Readonly<Record<string, number>> = { sha256: 64, sha384: 96, sha512: 128 };
const TAG_ONLY = new RegExp(`^${TAG_PATTERN}$`);

/** Why a digest is not one the registry can verify, or undefined. */
export function digestProblem(digest: string): string | undefined {
  const colon = digest.indexOf(':');
  const algorithm = digest.slice(0, colon);
  const length = DIGEST_LENGTHS[algorithm];
  if (colon <= 0 || length === undefined) {
    return `'${digest}' is not a digest: expected sha256:<64 hex digits> (or sha384, sha512)`;
  }
  if (!new RegExp(`^[a-f0-9]{${length}}$`).test(digest.slice(colon + 1))) {
    return `'${digest}' is not a ${algorithm} digest: expected ${length} lowercase hex digits after '${algorithm}:'`;
  }
  return undefined;
}

/** A manifest reference is a tag or a digest; anything else is refused with the code of what it looks like. */
function referenceProblem(resource: string, reference: string): Invalid | undefined {
  if (resource === 'manifests' && !reference.includes(':')) {
    if (TAG_ONLY.test(reference)) return undefined;
    // No manifest can be known by it: 404, as distribution answers a path it has no route for (and the conformance suite expects).
    const why = `'${reference}' is neither a tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}) nor a digest (sha256:<hex>)`;
    return invalid(404, 'MANIFEST_UNKNOWN', why);
  }
  const problem = digestProblem(reference);
  return problem ? invalid(400, 'DIGEST_INVALID', problem) : undefined;
}
export const MAX_NAME_LENGTH = 255;

const PATTERNS: [RegExp, Route['kind'], Exclude<Route, { kind: 'base' | 'catalog' }>['resource']?][] = [
  [new RegExp(`^/v2/(${NAME})/manifests/${REFERENCE}$`), 'repository', 'manifests'],
  [new RegExp(`^/v2/(${NAME})/blobs/uploads/(?:${UUID})?$`), 'repository', 'uploads'],
  [new RegExp(`^/v2/(${NAME})/blobs/${REFERENCE}$`), 'repository', 'blobs'],
  [new RegExp(`^/v2/(${NAME})/tags/list$`), 'repository', 'tags'],
  [new RegExp(`^/v2/(${NAME})/referrers/${REFERENCE}$`), 'repository', 'referrers'],
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
    const reference = m[2];
    if (reference === undefined) return { kind: 'repository', name, resource: resource! };
    return referenceProblem(resource!, reference) ?? { kind: 'repository', name, resource: resource!, reference };
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
