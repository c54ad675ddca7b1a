// The UI's pages as URLs under /ui/, both ways: a location to the page it
// shows, and a page to its href. The gateway serves index.html for every
// /ui/... path that is not a file, so each of these loads on its own too.

export const BASE = '/ui/';

export type Route =
  | { page: 'repositories'; q: string }
  | { page: 'tags'; name: string }
  | { page: 'manifest'; name: string; ref: string }
  | { page: 'setup' }
  | { page: 'login'; next: string | null }
  | { page: 'not-found'; path: string };

/** The page at a path and query string (as in location.pathname and location.search). */
export function parseRoute(pathname: string, search: string): Route {
  const params = new URLSearchParams(search);
  // /ui, /ui/ and /ui/index.html are the start page; a trailing slash is not a different page.
  let path = pathname.startsWith('/ui') ? pathname.slice(3) : pathname;
  path = path.replace(/\/+$/, '');
  switch (path) {
    case '':
    case '/index.html':
      return { page: 'repositories', q: params.get('q') ?? '' };
    case '/repo': {
      const name = params.get('name');
      return name ? { page: 'tags', name } : { page: 'not-found', path: pathname };
    }
    case '/manifest': {
      const name = params.get('name');
      const ref = params.get('ref');
      return name && ref ? { page: 'manifest', name, ref } : { page: 'not-found', path: pathname };
    }
    case '/setup':
      return { page: 'setup' };
    case '/login':
      return { page: 'login', next: safeNext(params.get('next')) };
    default:
      return { page: 'not-found', path: pathname };
  }
}

/** The href of a page; the inverse of parseRoute. */
export function href(route: Route): string {
  switch (route.page) {
    case 'repositories':
      return route.q ? `${BASE}?${query({ q: route.q })}` : BASE;
    case 'tags':
      return `${BASE}repo?${query({ name: route.name })}`;
    case 'manifest':
      return `${BASE}manifest?${query({ name: route.name, ref: route.ref })}`;
    case 'setup':
      return `${BASE}setup`;
    case 'login':
      return route.next ? `${BASE}login?${query({ next: route.next })}` : `${BASE}login`;
    case 'not-found':
      return route.path;
  }
}

/**
 * Where to go after logging in: only a path of this UI, so that a crafted
 * link (/ui/login?next=https://elsewhere) cannot send the user off-site.
 */
export function safeNext(next: string | null): string | null {
  if (!next || !next.startsWith(BASE) || next.startsWith('//') || next.includes('\\')) return null;
  if (parseRoute(next.split('?')[0] ?? '', '').page === 'login') return null;
  return next;
}

/** True for a link the app can show without loading the page again. */
export function isAppPath(pathname: string): boolean {
  return (pathname === '/ui' || pathname.startsWith(BASE)) && !pathname.startsWith(`${BASE}api/`) && !pathname.startsWith(`${BASE}assets/`);
}

function query(params: Record<string, string>): string {
  // URLSearchParams encodes '/' as %2F; repository names read better with it plain.
  // '?' and '=' inside a value are read back the same (only '&' and '#' must stay escaped).
  return new URLSearchParams(params).toString().replace(/%2F/gi, '/').replace(/%3A/gi, ':').replace(/%3F/gi, '?').replace(/%3D/gi, '=');
}
