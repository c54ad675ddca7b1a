// A history-API router: links under /ui/ change the page without a reload,
// Back and Forward work, and every URL also loads on its own (the gateway
// serves index.html for them).
import { useEffect, useState } from 'preact/hooks';
import { isAppPath, parseRoute, type Route } from './lib/routes.js';

const CHANGE = 'ui:navigate';

export interface Location {
  pathname: string;
  search: string;
  /** Bumped on every navigation, so a page reloads even when the URL is the same. */
  key: number;
}

let key = 0;

function current(): Location {
  return { pathname: window.location.pathname, search: window.location.search, key };
}

/** Goes to a URL of the app: a new history entry, or in place of this one. */
export function navigate(url: string, { replace = false } = {}): void {
  key++;
  if (replace) window.history.replaceState(null, '', url);
  else window.history.pushState(null, '', url);
  window.dispatchEvent(new Event(CHANGE));
}

/** The current location and the route it names; re-renders on every change. */
export function useRoute(): { location: Location; route: Route } {
  const [location, setLocation] = useState(current);
  useEffect(() => {
    const update = () => setLocation(current());
    window.addEventListener('popstate', update);
    window.addEventListener(CHANGE, update);
    return () => {
      window.removeEventListener('popstate', update);
      window.removeEventListener(CHANGE, update);
    };
  }, []);
  return { location, route: parseRoute(location.pathname, location.search) };
}

/** Plain <a href="/ui/..."> clicks handled in the page; other links (downloads, new tabs, other paths) as the browser does. */
export function interceptLinks(): void {
  document.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const anchor = (event.target as Element | null)?.closest?.('a');
    if (!anchor || anchor.target || anchor.hasAttribute('download')) return;
    const url = new URL(anchor.href, window.location.href);
    if (url.origin !== window.location.origin || !isAppPath(url.pathname)) return;
    event.preventDefault();
    if (url.hash && url.pathname === window.location.pathname && url.search === window.location.search) {
      document.getElementById(url.hash.slice(1))?.focus();
      return;
    }
    navigate(url.pathname + url.search);
  });
}

/** Rewrites the URL in place without telling the app (the search box keeps its text in ?q= as the user types). */
export function replaceQuietly(url: string): void {
  window.history.replaceState(null, '', url);
}
