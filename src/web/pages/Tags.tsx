// The tags of one repository, in version order (semver where tags parse,
// natural otherwise) or newest first across every tag: the server orders
// them all, and while it is still reading creation dates it says how many
// are left and the page asks again. A filter narrows the list (on the
// server, so a 500-tag repository is searched whole). Each row has its
// digest, size, creation time, platforms and a copy-ready pull command for
// the chosen client. Back to this page shows the same rows, order, filter
// and scroll position (kept in the history entry).
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api.js';
import { formatDate, formatSize, mediaTypeLabel, plural, shortDigest } from '../lib/format.js';
import { pullCommand } from '../lib/pull.js';
import { href } from '../lib/routes.js';
import type { TagOrder, TagSummary } from '../lib/types.js';
import { useDebounced, useTitle } from '../hooks.js';
import { usePullClient } from '../pullClient.js';
import { useRegistryHost } from '../registry.js';
import { remember, remembered } from '../router.js';
import { useSession } from '../session.js';
import { CopyButton } from '../components/CopyButton.js';
import { ErrorMessage, Loading } from '../components/Messages.js';
import { Platforms } from '../components/Platforms.js';

const PAGE = 50;
const MAX_PAGE = 100;
// While the server still reads dates, it is asked again this often.
const POLL_MS = 400;

type Order = Exclude<TagOrder, 'name'>;

interface State {
  name: string;
  q: string;
  order: Order;
  tags: TagSummary[];
  next: string | null;
  total: number | null;
  /** Newest first: tags whose date the server has not read yet. */
  pending: number;
  loading: boolean;
  error: Error | null;
}

export function TagsPage({ name }: { name: string }) {
  useTitle(name);
  const { session } = useSession();
  const [client] = usePullClient();
  const kept = remembered<Omit<State, 'loading' | 'error'>>('tags');
  const restored = kept?.name === name ? kept : undefined;
  const [state, setState] = useState<State>(() => (restored
    ? { ...restored, loading: false, error: null }
    : { name, q: '', order: 'version', tags: [], next: null, total: null, pending: 0, loading: true, error: null }));
  const [text, setText] = useState(restored?.q ?? '');
  const registry = useRegistryHost(state.total !== null);
  const q = useDebounced(text.trim(), 250);
  const controller = useRef<AbortController | null>(null);
  const focusFrom = useRef<number | null>(null);
  const poll = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  const load = (order: Order, query: string, last: string | null, n = PAGE) => {
    controller.current?.abort();
    clearTimeout(poll.current);
    const c = new AbortController();
    controller.current = c;
    setState((s) => ({ ...s, loading: true, error: null }));
    api.tags(name, { last, n, sort: order, q: query }, c.signal).then(
      (page) => {
        if (c.signal.aborted) return;
        let rows = page.tags.length;
        setState((s) => {
          const more = last !== null && s.order === order && s.q === query;
          const seen = new Set(more ? s.tags.map((t) => t.name) : []);
          if (more) rows += s.tags.length;
          return {
            name, q: query, order,
            tags: more ? [...s.tags, ...page.tags.filter((t) => !seen.has(t.name))] : page.tags,
            next: page.next,
            total: page.total,
            pending: page.pending ?? 0,
            loading: false,
            error: null,
          };
        });
        // Dates still coming: the first rows again (as many as are shown, up to a page's most), until they are all in.
        if ((page.pending ?? 0) > 0) {
          poll.current = setTimeout(() => load(order, query, null, Math.min(MAX_PAGE, Math.max(n, rows))), POLL_MS);
        }
      },
      (error: Error) => !c.signal.aborted && setState((s) => ({ ...s, loading: false, error })),
    );
  };
  // A restored list is shown as it was; a new filter (or a new visit) loads the first page.
  const first = useRef(true);
  useEffect(() => {
    const wasRestored = first.current && restored;
    first.current = false;
    if (!wasRestored) load(state.order, q, null);
    else if (restored.pending > 0) load(restored.order, restored.q, null, Math.min(MAX_PAGE, Math.max(PAGE, restored.tags.length)));
    return () => {
      controller.current?.abort();
      clearTimeout(poll.current);
    };
  }, [name, q]);
  useEffect(() => {
    if (focusFrom.current === null || state.loading) return;
    document.querySelectorAll<HTMLAnchorElement>('#tag-table tbody a.tag-link')[focusFrom.current]?.focus();
    focusFrom.current = null;
  }, [state]);
  useEffect(() => {
    if (!state.loading && state.total !== null) {
      const { loading: _l, error: _e, ...keep } = state;
      remember('tags', keep);
    }
  }, [state]);

  const choose = (order: Order) => {
    if (order === state.order) return;
    setState((s) => ({ ...s, order }));
    // As many rows as were shown (up to a page's most), now in the new order.
    load(order, state.q, null, Math.min(MAX_PAGE, Math.max(PAGE, state.tags.length)));
  };

  const { tags, next, total, loading, error, order, pending } = state;
  const stale = text.trim() !== state.q;
  return (
    <section class="page">
      <nav aria-label="Breadcrumb" class="breadcrumb">
        <ol>
          <li><a href={href({ page: 'repositories', q: '' })}>Repositories</a></li>
          <li><span aria-current="page">{name}</span></li>
        </ol>
      </nav>
      <h1 tabIndex={-1} class="break">{name}</h1>
      {error && <ErrorMessage error={error} />}
      {total === null && loading && <Loading what="tags" />}
      {total !== null && (
        <div class="toolbar">
          <form class="search tag-filter" role="search" onSubmit={(e) => e.preventDefault()}>
            <label for="filter-tags">Filter tags</label>
            <input
              id="filter-tags"
              type="search"
              value={text}
              placeholder="Part of a tag, e.g. 1.2"
              autocomplete="off"
              autocapitalize="none"
              spellcheck={false}
              aria-controls={tags.length > 0 ? 'tag-table' : undefined}
              onInput={(e) => setText(e.currentTarget.value)}
            />
          </form>
          <div class="segmented" role="group" aria-label="Sort tags">
            <button type="button" aria-pressed={order === 'version'} onClick={() => choose('version')}>By version</button>
            <button type="button" aria-pressed={order === 'created'} onClick={() => choose('created')}>Newest first</button>
          </div>
        </div>
      )}
      {total !== null && (
        <p class="count" role="status" aria-live="polite" data-testid="tag-count">
          {state.q ? `${plural(total, 'tag')} match “${state.q}”` : plural(total, 'tag')}
          {tags.length < total ? ` · showing ${tags.length.toLocaleString('en-US')}` : ''}
          {order === 'created' && pending > 0 ? (
            <span data-testid="dates-pending">
              {' '}· reading creation dates, {pending.toLocaleString('en-US')} to go: the order may still change
            </span>
          ) : null}
        </p>
      )}
      {total === 0 && <p class="empty">{state.q ? 'No tag has that in its name.' : 'This repository has no tags.'}</p>}
      {tags.length > 0 && (
        <div class={`table-wrap${stale ? ' stale' : ''}`}>
          <table id="tag-table" class="table tags" data-testid="tag-table" aria-busy={loading}>
            <caption class="visually-hidden">Tags of {name}{order === 'created' ? ', newest first' : ', by version'}</caption>
            <thead>
              <tr>
                <th scope="col">Tag</th>
                <th scope="col">Digest</th>
                <th scope="col" class="num">Size</th>
                <th scope="col">Created</th>
                <th scope="col">Platforms</th>
                <th scope="col">Pull</th>
              </tr>
            </thead>
            <tbody>
              {tags.map((tag) => (
                <tr key={tag.name} data-tag={tag.name}>
                  <th scope="row" data-label="Tag">
                    <a class="tag-link" href={href({ page: 'manifest', name, ref: tag.name })}>{tag.name}</a>
                  </th>
                  <td data-label="Digest">
                    <span class="digest">
                      <code title={tag.digest}>{shortDigest(tag.digest)}</code>
                      <CopyButton label={`Copy digest of ${tag.name}`} text={tag.digest} />
                    </span>
                  </td>
                  <td data-label="Size" class="num">{formatSize(tag.size)}</td>
                  <td data-label="Created">{formatDate(tag.created)}</td>
                  <td data-label="Platforms">
                    {tag.platforms.length > 0
                      ? <Platforms platforms={tag.platforms} labelled={false} />
                      : <span class="muted">{mediaTypeLabel(tag.mediaType)}</span>}
                  </td>
                  <td data-label="Pull">
                    <CopyButton
                      label={`Copy ${client} pull command for ${tag.name}`}
                      text={pullCommand(client, { registry, name, ref: tag.name }, session?.user ?? null)}
                      testId="copy-pull"
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {next && (
        <button
          type="button"
          class="more"
          disabled={loading}
          onClick={() => {
            focusFrom.current = tags.length;
            load(order, state.q, next);
          }}
        >
          {loading ? 'Loading…' : 'Load more'}
        </button>
      )}
    </section>
  );
}
