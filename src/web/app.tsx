// The page frame: skip link, header (who is logged in, log in or out, the
// setup link), the current page, and the live region. It also ends a session
// the gateway stopped accepting: a 401 after a login sends the user to the
// login page with "Your session ended".
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, onUnauthorized } from './api.js';
import { href, type Route } from './lib/routes.js';
import type { Session } from './lib/types.js';
import { navigate, rememberedScroll, useRoute } from './router.js';
import { SessionContext, type SessionState } from './session.js';
import { LoginPage } from './pages/Login.js';
import { RepositoriesPage } from './pages/Repositories.js';
import { TagsPage } from './pages/Tags.js';
import { ManifestPage } from './pages/Manifest.js';
import { SetupPage } from './pages/Setup.js';
import { NotFoundPage } from './pages/NotFound.js';
import { ErrorMessage } from './components/Messages.js';

export function App() {
  const { location, route } = useRoute();
  const [session, setSession] = useState<Session | null>(null);
  const [sessionError, setSessionError] = useState<Error | null>(null);
  const [ended, setEnded] = useState<string | null>(null);
  const [flash, setFlash] = useState<{ message: string; key: number | null } | null>(null);
  const sessionRef = useRef(session);
  sessionRef.current = session;
  const first = useRef(true);

  useEffect(() => {
    api.session().then(setSession, (error: Error) => {
      setSessionError(error);
      // The pages still load: the API answers each of them for itself.
      setSession({ user: null, mode: 'none', expiresAt: null });
    });
  }, []);

  // A 401 from any call: the session ended (logged in before), or this needs a login (anonymous).
  useEffect(() => {
    onUnauthorized(() => {
      const was = sessionRef.current;
      if (window.location.pathname.startsWith('/ui/login')) return;
      const next = window.location.pathname + window.location.search;
      if (was?.user) {
        setSession({ ...was, user: null, expiresAt: null });
        setEnded('Your session ended. Log in again to go on.');
      } else {
        setEnded('Log in to see this page.');
      }
      navigate(href({ page: 'login', next }), { replace: true });
    });
  }, []);

  // A stale cookie is answered as anonymous (fewer repositories, no 401), so
  // the page asks who it is on each navigation, when the window comes back,
  // and when the session's time is up: a session that ended shows the login.
  const recheck = () => {
    if (!sessionRef.current?.user) return;
    api.session().then((now) => {
      if (now.user) {
        if (now.user !== sessionRef.current?.user || now.expiresAt !== sessionRef.current?.expiresAt) setSession(now);
        return;
      }
      setSession(now);
      setEnded('Your session ended. Log in again to go on.');
      if (!window.location.pathname.startsWith('/ui/login')) {
        navigate(href({ page: 'login', next: window.location.pathname + window.location.search }), { replace: true });
      }
    }, () => {});
  };
  useEffect(() => {
    const onVisible = () => document.visibilityState === 'visible' && recheck();
    document.addEventListener('visibilitychange', onVisible);
    window.addEventListener('focus', recheck);
    return () => {
      document.removeEventListener('visibilitychange', onVisible);
      window.removeEventListener('focus', recheck);
    };
  }, []);
  useEffect(() => {
    if (!session?.user || !session.expiresAt) return;
    const wait = Date.parse(session.expiresAt) - Date.now() + 1000;
    if (!Number.isFinite(wait)) return;
    const timer = setTimeout(recheck, Math.min(Math.max(wait, 1000), 2 ** 31 - 1));
    return () => clearTimeout(timer);
  }, [session]);

  // A new page: to the top, focus on its heading (screen readers hear where they are).
  // Back to a page shown before: where it was scrolled (its page put its list back already).
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    document.querySelector<HTMLElement>('main h1')?.focus({ preventScroll: true });
    window.scrollTo(0, location.pop ? (rememberedScroll() ?? 0) : 0);
    if (route.page !== 'login') setEnded(null);
    recheck();
  }, [location.key, location.pathname, location.search]);

  const state: SessionState = useMemo(
    () => ({
      session,
      setSession: (s: Session) => {
        setSession(s);
        setEnded(null);
      },
      // Called just before navigating: shown on the page navigated to, then dropped.
      flash: (message: string) => setFlash({ message, key: null }),
    }),
    [session],
  );
  useEffect(() => {
    setFlash((f) => (f && f.key === null ? { ...f, key: location.key } : f && f.key !== location.key ? null : f));
  }, [location.key]);
  const flashShown = flash && (flash.key === null || flash.key === location.key) ? flash.message : null;

  const logout = async () => {
    try {
      await api.logout();
    } catch {
      // Already ended on the gateway's side: logged out all the same.
    }
    setSession({ user: null, mode: session?.mode ?? 'none', expiresAt: null });
    setEnded(null);
    setFlash({ message: 'You are logged out.', key: null });
    navigate(href({ page: 'repositories', q: '' }));
  };

  return (
    <SessionContext.Provider value={state}>
      <a class="skip-link" href="#main">Skip to content</a>
      <header class="site-header">
        <div class="header-inner">
          <a class="brand" href={href({ page: 'repositories', q: '' })}>registry-gateway</a>
          <nav aria-label="Main" class="main-nav">
            <a href={href({ page: 'repositories', q: '' })} aria-current={isCurrent(route, 'repositories')}>Repositories</a>
            <a href={href({ page: 'setup' })} aria-current={isCurrent(route, 'setup')}>Set up a node</a>
          </nav>
          <div class="account">
            {session && (
              <span class="user" data-testid="current-user">
                {session.user ?? 'anonymous'}
              </span>
            )}
            {session?.user ? (
              <button type="button" class="link-button" onClick={logout}>Log out</button>
            ) : session && session.mode !== 'none' && route.page !== 'login' ? (
              <a href={href({ page: 'login', next: currentPath(route) })}>Log in</a>
            ) : null}
          </div>
        </div>
      </header>
      <main id="main" tabIndex={-1} class="main">
        {sessionError && <ErrorMessage error={sessionError} testId="session-error" />}
        {flashShown && (
          <p class="alert info" role="status" data-testid="flash">{flashShown}</p>
        )}
        {/* Only the login page waits for the session (its mode): the others ask for their data at once. */}
        {session || route.page !== 'login'
          ? <Page route={route} locationKey={location.key} ended={ended} />
          : <p class="loading" role="status">Loading…</p>}
      </main>
      <div id="announcer" class="visually-hidden" aria-live="polite" aria-atomic="true"></div>
    </SessionContext.Provider>
  );
}

function Page({ route, locationKey, ended }: { route: Route; locationKey: number; ended: string | null }) {
  switch (route.page) {
    case 'repositories':
      return <RepositoriesPage q={route.q} key={`r${locationKey}`} />;
    case 'tags':
      return <TagsPage name={route.name} key={`t${route.name}${locationKey}`} />;
    case 'manifest':
      return <ManifestPage name={route.name} reference={route.ref} key={`m${route.name}@${route.ref}`} />;
    case 'setup':
      return <SetupPage />;
    case 'login':
      return <LoginPage next={route.next} notice={ended} />;
    case 'not-found':
      return <NotFoundPage path={route.path} />;
  }
}

function isCurrent(route: Route, page: Route['page']): 'page' | undefined {
  if (page === 'repositories') return route.page === 'repositories' || route.page === 'tags' || route.page === 'manifest' ? 'page' : undefined;
  return route.page === page ? 'page' : undefined;
}

function currentPath(route: Route): string | null {
  return route.page === 'login' || route.page === 'not-found' ? null : href(route);
}
