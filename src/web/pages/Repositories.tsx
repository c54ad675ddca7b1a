// The repositories the user may pull: search as you type (debounced, the
// server filters), pages of 100 from the server's `next`, as far as the
// catalog goes (well past 1,000), and the total that matches. Each row's
// tags, last push and platforms come after the names, in batches of 25 for
// the rows shown (one request per batch, never one per row), one batch at
// a time, so a large catalog never waits on them. Rows are grouped by
// namespace (the name's first part), each group collapsible; Back to this
// page shows what was loaded, collapsed and scrolled (the history entry).
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api.js';
import { formatDate, plural } from '../lib/format.js';
import type { RepositorySummary } from '../lib/types.js';
import { Platforms } from '../components/Platforms.js';
import { href } from '../lib/routes.js';
import { remember, remembered, replaceQuietly } from '../router.js';
import { useSession } from '../session.js';
import { useDebounced, useTitle } from '../hooks.js';
import { ErrorMessage } from '../components/Messages.js';

const PAGE = 100;
const SUMMARY_BATCH = 25;

interface State {
  q: string;
  repositories: string[];
  next: string | null;
  total: number | null;
  loading: boolean;
  error: Error | null;
}

type Kept = Omit<State, 'loading' | 'error'> & { collapsed: string[] };

/** The namespace a repository is grouped under: its name up to the first slash ('' for a top-level name). */
export const namespaceOf = (name: string) => (name.includes('/') ? name.slice(0, name.indexOf('/')) : '');

export function RepositoriesPage({ q: initial }: { q: string }) {
  useTitle('Repositories');
  const { session } = useSession();
  const kept = remembered<Kept>('repositories');
  const restored = kept && kept.q === initial.trim() ? kept : undefined;
  const [text, setText] = useState(initial);
  const q = useDebounced(text.trim(), 250);
  const [state, setState] = useState<State>(() => (restored
    ? { q: restored.q, repositories: restored.repositories, next: restored.next, total: restored.total, loading: false, error: null }
    : { q, repositories: [], next: null, total: null, loading: true, error: null }));
  const [collapsed, setCollapsed] = useState<Set<string>>(() => new Set(restored?.collapsed ?? []));
  const controller = useRef<AbortController | null>(null);
  // After "Load more", focus goes to the first new entry rather than to a button that is gone.
  const focusFrom = useRef<number | null>(null);

  const load = (query: string, last: string | null) => {
    controller.current?.abort();
    const c = new AbortController();
    controller.current = c;
    setState((s) => ({ ...s, loading: true, error: null }));
    api.repositories(query, last, PAGE, c.signal).then(
      (page) => {
        if (c.signal.aborted) return;
        setState((s) => ({
          q: query,
          repositories: last && s.q === query ? [...s.repositories, ...page.repositories] : page.repositories,
          next: page.next,
          total: page.total,
          loading: false,
          error: null,
        }));
      },
      (error: Error) => {
        if (c.signal.aborted) return;
        setState((s) => ({ ...s, loading: false, error }));
      },
    );
  };

  const first = useRef(true);
  useEffect(() => {
    replaceQuietly(href({ page: 'repositories', q }));
    if (!(first.current && restored)) load(q, null);
    first.current = false;
    return () => controller.current?.abort();
  }, [q]);
  useEffect(() => {
    if (state.loading || state.total === null) return;
    remember('repositories', {
      q: state.q, repositories: state.repositories, next: state.next, total: state.total, collapsed: [...collapsed],
    } satisfies Kept);
  }, [state, collapsed]);

  useEffect(() => {
    if (focusFrom.current === null || state.loading) return;
    document.querySelectorAll<HTMLAnchorElement>('#repository-list a')[focusFrom.current]?.focus();
    focusFrom.current = null;
  }, [state]);

  // name -> its extra columns. One batch in flight at a time; when it lands the next one goes.
  const [summaries, setSummaries] = useState<Map<string, RepositorySummary>>(new Map());
  const asked = useRef(new Set<string>());
  const inFlight = useRef(false);
  const [landed, setLanded] = useState(0);
  useEffect(() => {
    if (inFlight.current || state.loading) return;
    const batch = state.repositories.filter((n) => !asked.current.has(n)).slice(0, SUMMARY_BATCH);
    if (batch.length === 0) return;
    batch.forEach((n) => asked.current.add(n));
    inFlight.current = true;
    api.repositorySummaries(batch).then(
      ({ summaries: rows }) => setSummaries((m) => new Map([...m, ...rows.map((r) => [r.name, r] as const)])),
      () => {}, // the columns stay empty; the list itself is what matters
    ).finally(() => {
      inFlight.current = false;
      setLanded((n) => n + 1);
    });
  }, [state, landed]);

  const { repositories, next, total, loading, error } = state;
  const stale = text.trim() !== state.q;
  return (
    <section class="page">
      <h1 tabIndex={-1}>Repositories</h1>
      <form class="search" role="search" onSubmit={(e) => e.preventDefault()}>
        <label for="search-repositories">Search repositories</label>
        <input
          id="search-repositories"
          type="search"
          value={text}
          placeholder="Part of a name, e.g. library/"
          autocomplete="off"
          autocapitalize="none"
          spellcheck={false}
          aria-controls="repository-list"
          onInput={(e) => setText(e.currentTarget.value)}
        />
      </form>
      <p class="count" role="status" aria-live="polite" data-testid="repository-count">
        {total === null
          ? 'Loading…'
          : state.q
            ? `${plural(total, 'repository', 'repositories')} match “${state.q}”`
            : `${plural(total, 'repository', 'repositories')}`}
        {total !== null && repositories.length < total ? ` · showing ${repositories.length.toLocaleString('en-US')}` : ''}
      </p>
      {error && <ErrorMessage error={error} />}
      {total === 0 && !loading && !error && (
        <p class="empty">
          {state.q ? 'No repository you may pull has that in its name.' : 'There is no repository you may pull.'}
          {!session?.user && session?.mode !== 'none' ? <> <a href={href({ page: 'login', next: null })}>Log in</a> to see the ones your user may pull.</> : null}
        </p>
      )}
      <div
        id="repository-list" class={`repo-groups${stale || (loading && !next) ? ' stale' : ''}`} aria-busy={loading}
        data-testid="repository-list"
      >
        {groups(repositories).map(([ns, names]) => (
          <details
            key={ns}
            class="repo-group"
            open={!collapsed.has(ns)}
            data-namespace={ns}
            onToggle={(e) => {
              const open = (e.currentTarget as HTMLDetailsElement).open;
              setCollapsed((c) => {
                if (open === !c.has(ns)) return c;
                const next = new Set(c);
                if (open) next.delete(ns);
                else next.add(ns);
                return next;
              });
            }}
          >
            <summary>
              <span class="namespace">{ns === '' ? 'Top level' : `${ns}/`}</span>{' '}
              <span class="muted small">{plural(names.length, 'repository', 'repositories')}{next ? ' loaded' : ''}</span>
            </summary>
            <ul class="repo-list">
              {names.map((name) => {
                const summary = summaries.get(name);
                return (
                  <li key={name}>
                    <a href={href({ page: 'tags', name })}>{name}</a>
                    <span class="repo-facts" data-testid="repository-facts" aria-busy={!summary}>
                      {summary ? (
                        <>
                          <span class="repo-tags">{plural(summary.tags, 'tag')}</span>
                          <span class="repo-pushed" title={summary.partial ? 'from the last tags only' : undefined}>
                            {summary.lastPush ? `pushed ${formatDate(summary.lastPush)}` : 'no date'}
                          </span>
                          <Platforms platforms={summary.platforms} />
                        </>
                      ) : (
                        <span class="muted small">…</span>
                      )}
                    </span>
                  </li>
                );
              })}
            </ul>
          </details>
        ))}
      </div>
      {next && (
        <button type="button" class="more" disabled={loading} onClick={() => {
            focusFrom.current = repositories.length;
            load(state.q, next);
          }}>
          {loading ? 'Loading…' : 'Load more'}
        </button>
      )}
    </section>
  );
}

/** Names by namespace, in the order each namespace first appears (the list is sorted: top-level names may come between). */
function groups(names: readonly string[]): [string, string[]][] {
  const out = new Map<string, string[]>();
  for (const name of names) {
    const ns = namespaceOf(name);
    const group = out.get(ns);
    if (group) group.push(name);
    else out.set(ns, [name]);
  }
  return [...out];
}
