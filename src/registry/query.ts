// The query string, parsed once and strictly. The registry behind us is Go:
// url.ParseQuery skips a pair it cannot decode, refuses ';', and FormValue
// takes the first of repeated keys (and reads form bodies first). If the
// gateway read the query differently, it would authorize one request and
// the registry would execute another. So the upstream never sees the
// client's query: it gets one rebuilt from this parse, holding only the
// parameters the route defines, and anything ambiguous is refused here.
import type { Route } from './routes.js';
import { DIGEST_PATTERN, MAX_NAME_LENGTH, REPOSITORY_NAME, TAG_PATTERN } from './routes.js';

import { invalid, type Invalid, type RegistryErrorCode } from '../http/responses.js';

/** Every parameter the registry API defines, on any route. */
const REGISTRY_PARAMETERS = new Set(['n', 'last', 'mount', 'from', 'digest', '_state', 'artifactType']);

const DIGEST = new RegExp(`^${DIGEST_PATTERN}$`);
const TAG = new RegExp(`^${TAG_PATTERN}$`);
// distribution's _state is base64url of a signed JSON document.
const STATE = /^[A-Za-z0-9_=.~+/-]{1,8192}$/;
// RFC 6838 media type, as the referrers API filters by it.
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;
const COUNT = /^(0|[1-9][0-9]{0,8})$/;

const name = (v: string) => v.length <= MAX_NAME_LENGTH && REPOSITORY_NAME.test(v);
const VALID: Record<string, (value: string, route: Route) => boolean> = {
  n: (v) => COUNT.test(v),
  last: (v, route) => (route.kind === 'catalog' ? name(v) : TAG.test(v)),
  mount: (v) => DIGEST.test(v),
  digest: (v) => DIGEST.test(v),
  from: name,
  _state: (v) => STATE.test(v),
  artifactType: (v) => MEDIA_TYPE.test(v),
};

/** The parameters a request to this route may carry (the distribution spec and API). */
export function parametersFor(method: string, route: Route, path: string): ReadonlySet<string> {
  if (route.kind === 'catalog') return new Set(['n', 'last']);
  if (route.kind !== 'repository') return new Set();
  switch (route.resource) {
    case 'tags':
      return new Set(['n', 'last']);
    case 'referrers':
      return new Set(['artifactType']);
    case 'uploads':
      if (path.endsWith('/uploads/')) return method === 'POST' ? new Set(['mount', 'from', 'digest']) : new Set();
      return method === 'PUT' ? new Set(['_state', 'digest']) : new Set(['_state']);
    default:
      return new Set();
  }
}

// decodeURIComponent accepts what Go accepts, except '+' (a space in a query).
function decode(text: string): string | undefined {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

const refuse = (message: string, code: RegistryErrorCode = 'UNSUPPORTED'): Invalid => invalid(400, code, message);

/**
 * The query as the route defines it, or why it is refused. Parameters no
 * part of the registry API knows are dropped (the upstream never acts on
 * what it never receives); one the API defines for another route is refused,
 * as the registry might act on it.
 */
export function parseQuery(raw: string, allowed: ReadonlySet<string>, route: Route): Map<string, string> | Invalid {
  const params = new Map<string, string>();
  if (raw === '') return params;
  if (raw.includes(';')) return refuse("';' in the query: separate parameters with '&'");
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = decode(eq === -1 ? pair : pair.slice(0, eq));
    const value = decode(eq === -1 ? '' : pair.slice(eq + 1));
    if (key === undefined || value === undefined) return refuse('malformed percent-encoding in the query');
    if (!REGISTRY_PARAMETERS.has(key)) continue;
    if (!allowed.has(key)) return refuse(`query parameter '${key}' is not valid on this request`);
    if (params.has(key)) return refuse(`query parameter '${key}' given more than once`);
    if (!VALID[key]!(value, route)) {
      const code: RegistryErrorCode = key === 'n' ? 'PAGINATION_NUMBER_INVALID'
        : key === 'from' ? 'NAME_INVALID'
        : key === 'digest' || key === 'mount' ? 'DIGEST_INVALID'
        : 'UNSUPPORTED';
      return refuse(`invalid value for query parameter '${key}'`, code);
    }
    params.set(key, value);
  }
  // A mount names its source; without one, some registries search every
  // repository for the digest (zot CVE-2024-39897). It becomes a plain upload.
  if (!params.has('mount') || !params.has('from')) {
    params.delete('mount');
    params.delete('from');
  }
  return params;
}

/** The query the upstream receives: only what was parsed, re-encoded. */
export function formatQuery(params: ReadonlyMap<string, string>): string {
  const parts = [...params].map(([k, v]) => `${k}=${encodeURIComponent(v)}`);
  return parts.length > 0 ? `?${parts.join('&')}` : '';
}
