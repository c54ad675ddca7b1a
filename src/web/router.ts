// A history-API router: links under /ui/ change the page without a reload,
// Back and Forward work, and every URL also loads on its own (the gateway
// serves index.html for them). Each history entry also keeps what its page
// showed (remember(): the loaded list, its order, what was collapsed) and
// where it was scrolled, so that Back shows the same list at the same place
// instead of a fresh first page at the top.
import { useEffect, useState } from 'preact/hooks';
import { isAppPath, parseRoute, type Route } from './lib/routes.js';

const CHANGE = 'ui:navigate';

export interface Location {
  pathname: string;
  search: string;
  /** Bumped on every navigation, so a page reloads even when the URL is the same. */
  key: number;
  /** Back or Forward to an entry that was shown before: its page restores what it remembered, and the scroll. */
  pop: boolean;
}

let key = 0;
// Scrolling is put back by the app, once the remembered list is on screen.
if ('scrollRestoration' in window.history) window.history.scrollRestoration = 'manual';

function current(pop = false): Location {
  return { pathname: window.location.pathname, search: window.location.search, key, pop };
}

type Memory = Record<string, unknown> & { scrollY?: number };
const memory = (): Memory => (window.history.state && typeof window.history.state === 'object' ? window.history.state as Memory : {});

/** What this history entry's page remembered under `name` (undefined on a new entry). */
export function remembered<T>(name: string): T | undefined {
  return memory()[name] as T | undefined;
}

/** Keeps `value` with this history entry, for when Back comes to it again. */
export function remember(name: string, value: unknown): void {
  try {
    window.history.replaceState({ ...memory(), [name]: value }, '');
  } catch {
    // Too large to keep (the browser's limit): Back then loads the list afresh.
  }
}

/** Where this entry was scrolled, when it was left. */
export function rememberedScroll(): number | undefined {
  return memory().scrollY;
}

/** Goes to a URL of the app: a new history entry, or in place of this one. */
export function navigate(url: string, { replace = false } = {}): void {
  key++;
  if (replace) {
    window.history.replaceState(null, '', url);
  } else {
    // The entry left behind keeps its scroll position.
    window.history.replaceState({ ...memory(), scrollY: window.scrollY }, '');
    window.history.pushState(null, '', url);
  }
  window.dispatchEvent(new Event(CHANGE));
}

/** The current location and the route it names; re-renders on every change. */
export function useRoute(): { location: Location; route: Route } {
  const [location, setLocation] = useState(current);
  useEffect(() => {
    const update = () => setLocation(current());
    const pop = () => {
      key++;
      setLocation(current(true));
    };
    window.addEventListener('popstate', pop);
    window.addEventListener(CHANGE, update);
    return () => {
      window.removeEventListener('popstate', pop);
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
  window.history.replaceState(window.history.state, '', url);
}
