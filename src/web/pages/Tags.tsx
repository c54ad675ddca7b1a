// The tags of one repository: by name as the registry lists them, or newest
// first within what is loaded; digest, size, creation time and platforms.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api.js';
import { formatDate, formatSize, mediaTypeLabel, plural, shortDigest } from '../lib/format.js';
import { href } from '../lib/routes.js';
import { sortTags, type TagOrder } from '../lib/sort.js';
import type { TagSummary } from '../lib/types.js';
import { useTitle } from '../hooks.js';
import { CopyButton } from '../components/CopyButton.js';
import { ErrorMessage, Loading } from '../components/Messages.js';
import { Platforms } from '../components/Platforms.js';

const PAGE = 50;

interface State {
  tags: TagSummary[];
  next: string | null;
  total: number | null;
  loading: boolean;
  error: Error | null;
}

export function TagsPage({ name }: { name: string }) {
  useTitle(name);
  const [state, setState] = useState<State>({ tags: [], next: null, total: null, loading: true, error: null });
  const [order, setOrder] = useState<TagOrder>('name');
  const controller = useRef<AbortController | null>(null);
  const focusFrom = useRef<number | null>(null);

  const load = (last: string | null) => {
    controller.current?.abort();
    const c = new AbortController();
    controller.current = c;
    setState((s) => ({ ...s, loading: true, error: null }));
    api.tags(name, last, PAGE, c.signal).then(
      (page) => {
        if (c.signal.aborted) return;
        setState((s) => ({
          tags: last ? [...s.tags, ...page.tags] : page.tags,
          next: page.next,
          total: page.total,
          loading: false,
          error: null,
        }));
      },
      (error: Error) => !c.signal.aborted && setState((s) => ({ ...s, loading: false, error })),
    );
  };
  useEffect(() => {
    load(null);
    return () => controller.current?.abort();
  }, [name]);
  useEffect(() => {
    if (focusFrom.current === null || state.loading) return;
    document.querySelectorAll<HTMLAnchorElement>('#tag-table tbody a.tag-link')[focusFrom.current]?.focus();
    focusFrom.current = null;
  }, [state]);

  const { tags, next, total, loading, error } = state;
  const shown = sortTags(tags, order);
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
          <p class="count" data-testid="tag-count">
            {plural(total, 'tag')}
            {tags.length < total ? ` · showing ${tags.length.toLocaleString('en-US')}` : ''}
          </p>
          {tags.length > 1 && (
            <div class="segmented" role="group" aria-label="Sort tags">
              <button type="button" aria-pressed={order === 'name'} onClick={() => setOrder('name')}>By name</button>
              <button type="button" aria-pressed={order === 'created'} onClick={() => setOrder('created')}>Newest first</button>
            </div>
          )}
        </div>
      )}
      {total === 0 && <p class="empty">This repository has no tags.</p>}
      {tags.length > 0 && (
        <div class="table-wrap">
          <table id="tag-table" class="table tags" data-testid="tag-table">
            <caption class="visually-hidden">Tags of {name}{order === 'created' ? ', newest first' : ', by name'}</caption>
            <thead>
              <tr>
                <th scope="col">Tag</th>
                <th scope="col">Digest</th>
                <th scope="col" class="num">Size</th>
                <th scope="col">Created</th>
                <th scope="col">Platforms</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((tag) => (
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
                    {tag.platforms.length > 0 ? <Platforms platforms={tag.platforms} /> : <span class="muted">{mediaTypeLabel(tag.mediaType)}</span>}
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
            load(next);
          }}
        >
          {loading ? 'Loading…' : 'Load more'}
        </button>
      )}
    </section>
  );
}
