// GET /ui/api/repositories and /ui/api/repositories/tags. The catalog is the
// upstream's whole list (proxy/catalog.ts's readList), filtered to what the
// viewer may pull, searched and paginated here: a page past 1,000 is a page
// like any other. A tag page reads each of its tags' manifests (and
// configs, for the creation date), a few at a time, only for that page.
// Tags come by name (as the registry lists them), by version (tagOrder.ts)
// or newest first across every tag: the dates come from the rows read so
// far (kept for ROW_TTL_MS), and each request reads at most DATE_FILL more,
// saying how many are still `pending` so that the page asks again.
import type { OutgoingHttpHeaders } from 'node:http';
import type { Policy } from '../auth/policy.js';
import { readList } from '../proxy/catalog.js';
import type { Upstream } from '../proxy/upstream.js';
import { authorize, CATALOG, pull, remove, type Viewer } from './access.js';
import { mapLimit, PER_REQUEST, type Details, type ImageReader, type Platform } from './images.js';
import { LRUCache } from 'lru-cache';
import { checkParams, cursor, isRepositoryName, isTag, page, pageAfter, pageSize, repositoryName } from './params.js';
import { UiError } from './reply.js';
import { byVersion, compareVersions } from './tagOrder.js';
import type { RepositoryPage, RepositorySummaries, RepositorySummary, TagOrder, TagPage, TagSummary } from './apiTypes.js';

export const MAX_REPOSITORIES_PAGE = 1000;
export const MAX_TAGS_PAGE = 100;
/** Repositories one summary request may name: a page shows them in batches of this many. */
export const MAX_SUMMARIES = 25;
/** Tags read per repository for the last push and the platforms (the last ones in version order); more makes it `partial`. */
export const SUMMARY_TAGS = 5;
// A summary is read again at most this often: scrolling back and forth costs the upstream nothing.
const SUMMARY_TTL_MS = 30_000;
const MAX_CACHED_SUMMARIES = 2000;
// The catalog is read again at most this often (a search box asks per keystroke).
const CATALOG_TTL_MS = 5000;
const MAX_QUERY = 255;
/** Tags whose rows (digest, date) one newest-first request reads beyond its page: the rest are `pending`. */
export const DATE_FILL = 64;
// A tag's row (what it points at, its date) is used for the newest-first order this long.
const ROW_TTL_MS = 60_000;
const MAX_CACHED_ROWS = 20_000;
const ORDERS: readonly TagOrder[] = ['name', 'version', 'created'];

export interface ListOptions {
  upstream: Upstream;
  headers: () => OutgoingHttpHeaders;
  policy: Policy;
  images: ImageReader;
}

export type { TagSummary };

/** A tag's line: an index's platforms (attestations, unknown/unknown, left out) and its newest creation date. */
export function summarize(tag: string, d: Details): TagSummary {
  if (d.kind === 'image') {
    return { name: tag, digest: d.digest, mediaType: d.mediaType, size: d.size, created: d.config?.created ?? null, platforms: d.platform ? [d.platform] : [] };
  }
  const created = d.platforms.map((p) => p.config?.created).filter((c): c is string => typeof c === 'string' && !Number.isNaN(Date.parse(c)))
    .sort((a, b) => Date.parse(b) - Date.parse(a))[0] ?? null;
  const platforms = d.platforms.flatMap((p) => (p.platform && p.platform.os !== 'unknown' ? [p.platform] : []));
  return { name: tag, digest: d.digest, mediaType: d.mediaType, size: d.size, created, platforms };
}

export function createLists(opts: ListOptions) {
  let catalog: { at: number; items: Promise<string[]> } | undefined;

  function unavailable(err: unknown): never {
    if (err instanceof UiError) throw err;
    throw new UiError(503, 'UPSTREAM_UNAVAILABLE', `the upstream registry did not answer (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }

  async function readCatalog(): Promise<string[]> {
    const list = await readList(opts.upstream, '/v2/_catalog', 'repositories', opts.headers()).catch(unavailable);
    if (list.kind === 'upstream') throw new UiError(502, 'UPSTREAM', `the upstream answered ${list.status} for its catalog`);
    return list.items;
  }

  async function repositories(): Promise<string[]> {
    if (!catalog || Date.now() - catalog.at > CATALOG_TTL_MS) {
      const items = readCatalog();
      catalog = { at: Date.now(), items };
      items.catch(() => (catalog = undefined));
    }
    return catalog.items;
  }

  /** Every tag of a repository, sorted. */
  async function tagsOf(name: string): Promise<string[]> {
    const list = await readList(opts.upstream, `/v2/${name}/tags/list`, 'tags', opts.headers()).catch(unavailable);
    if (list.kind === 'upstream') {
      if (list.status === 404) throw new UiError(404, 'NOT_FOUND', `repository ${name} not found`);
      throw new UiError(502, 'UPSTREAM', `the upstream answered ${list.status} for the tags of ${name}`);
    }
    return list.items.filter(isTag);
  }

  // name -> summary, oldest first (Map keeps insertion order): bounded, and refreshed after the TTL.
  const summaries = new Map<string, { at: number; summary: Promise<RepositorySummary> }>();

  async function summarizeRepository(name: string): Promise<RepositorySummary> {
    const all = await tagsOf(name);
    // The highest versions (v1.35.0 rather than v1.9.0): most likely the last pushed.
    const read = byVersion(all).slice(-SUMMARY_TAGS);
    const rows = await mapLimit(read, PER_REQUEST, async (tag) => {
      const head = await opts.images.head(name, tag);
      return head ? summarize(tag, await opts.images.byDigest(name, head)) : undefined;
    });
    const seen = rows.filter((r): r is TagSummary => r !== undefined);
    const lastPush = seen.map((r) => r.created).filter((c): c is string => c !== null && !Number.isNaN(Date.parse(c)))
      .sort((a, b) => Date.parse(b) - Date.parse(a))[0] ?? null;
    const platforms = new Map<string, Platform>();
    for (const p of seen.flatMap((r) => r.platforms)) platforms.set(`${p.os}/${p.architecture}/${p.variant ?? ''}`, p);
    return { name, tags: all.length, lastPush, platforms: [...platforms.values()], partial: all.length > read.length };
  }

  function summaryOf(name: string): Promise<RepositorySummary> {
    const cached = summaries.get(name);
    if (cached && Date.now() - cached.at < SUMMARY_TTL_MS) return cached.summary;
    summaries.delete(name);
    const summary = summarizeRepository(name);
    summaries.set(name, { at: Date.now(), summary });
    summary.catch(() => summaries.delete(name));
    while (summaries.size > MAX_CACHED_SUMMARIES) summaries.delete(summaries.keys().next().value!);
    return summary;
  }

  // name\0tag -> its row (null: untagged meanwhile), for the newest-first order across every tag.
  const rows = new LRUCache<string, { at: number; row: TagSummary | null }>({ max: MAX_CACHED_ROWS });
  const rowKey = (name: string, tag: string) => `${name}\0${tag}`;
  const freshRow = (name: string, tag: string) => {
    const hit = rows.get(rowKey(name, tag));
    return hit && Date.now() - hit.at < ROW_TTL_MS ? hit : undefined;
  };
  /** Reads a tag's row now (a HEAD; its manifest and config once per digest) and keeps it. */
  async function readRow(name: string, tag: string): Promise<TagSummary | null> {
    const head = await opts.images.head(name, tag);
    // Untagged between the list and now: left out.
    const row = head ? summarize(tag, await opts.images.byDigest(name, head)) : null;
    rows.set(rowKey(name, tag), { at: Date.now(), row });
    return row;
  }
  const time = (row: TagSummary | null | undefined) => {
    const ms = row?.created ? Date.parse(row.created) : NaN;
    return Number.isNaN(ms) ? undefined : ms;
  };

  /**
   * Every tag newest first, with what is known now: dated rows by date, then
   * the tags not read yet (`pending`), then those without a date, each group
   * in version order. Reads up to DATE_FILL unread tags first, highest
   * versions first (usually the newest).
   */
  async function newestFirst(name: string, all: readonly string[]): Promise<{ sorted: string[]; pending: number }> {
    const unread = all.filter((t) => !freshRow(name, t)).sort((a, b) => compareVersions(b, a));
    await mapLimit(unread.slice(0, DATE_FILL), PER_REQUEST, (t) => readRow(name, t));
    const known = new Map(all.map((t) => [t, freshRow(name, t)] as const));
    const group = (t: string) => {
      const hit = known.get(t);
      return !hit ? 1 : time(hit.row) === undefined ? 2 : 0;
    };
    const sorted = [...all].filter((t) => known.get(t)?.row !== null).sort((a, b) =>
      group(a) - group(b) || (time(known.get(b)?.row) ?? 0) - (time(known.get(a)?.row) ?? 0) || compareVersions(a, b));
    return { sorted, pending: all.filter((t) => !known.get(t)).length };
  }

  return {
    tagsOf,

    /**
     * The extra columns of the repository list, for the names a page shows: asked in batches once the
     * names are on screen, never one request per row, and bounded per request (names, tags read per name).
     */
    async summaries(viewer: Viewer, query: URLSearchParams): Promise<RepositorySummaries> {
      checkParams(query, ['name'], ['name']);
      const names = query.getAll('name');
      if (names.length === 0) throw new UiError(400, 'BAD_PARAMETER', "give the repositories with 'name' (repeated)");
      if (names.length > MAX_SUMMARIES) {
        throw new UiError(400, 'BAD_PARAMETER', `at most ${MAX_SUMMARIES} 'name' per request, not ${names.length}`);
      }
      const bad = names.find((n) => !isRepositoryName(n));
      if (bad !== undefined) throw new UiError(400, 'BAD_PARAMETER', `'${bad.slice(0, 256)}' is not a repository name`);
      authorize(opts.policy, viewer, CATALOG, 'list repositories');
      // Names the viewer may not pull are left out, as from the list itself.
      const mine = [...new Set(names)].filter((n) => opts.policy(viewer.account, pull(n)));
      const rows = await mapLimit(mine, PER_REQUEST, async (n) => summaryOf(n).catch((err: unknown) => {
        // Gone since the list was read: no row, not an error for the whole batch.
        if (err instanceof UiError && err.status === 404) return undefined;
        throw err;
      }));
      return { summaries: rows.filter((r): r is RepositorySummary => r !== undefined) };
    },

    async repositories(viewer: Viewer, query: URLSearchParams): Promise<RepositoryPage> {
      checkParams(query, ['q', 'n', 'last']);
      const q = (query.get('q') ?? '').trim().toLowerCase();
      if (q.length > MAX_QUERY) throw new UiError(400, 'BAD_PARAMETER', `'q' is longer than ${MAX_QUERY} characters: no repository name is`);
      const n = pageSize(query, 100, MAX_REPOSITORIES_PAGE);
      const last = cursor(query, isRepositoryName, 'repository name');
      authorize(opts.policy, viewer, CATALOG, 'list repositories');
      const visible = (await repositories()).filter((name) => (q === '' || name.includes(q)) && opts.policy(viewer.account, pull(name)));
      const { items, next } = page(visible, last, n);
      return { repositories: items, next, total: visible.length };
    },

    async tags(viewer: Viewer, query: URLSearchParams): Promise<TagPage> {
      checkParams(query, ['name', 'n', 'last', 'sort', 'q']);
      const name = repositoryName(query);
      const n = pageSize(query, 50, MAX_TAGS_PAGE);
      const last = cursor(query, isTag, 'tag');
      const sort = (query.get('sort') ?? 'name') as TagOrder;
      if (!ORDERS.includes(sort)) {
        throw new UiError(400, 'BAD_PARAMETER', `'sort' is one of ${ORDERS.join(', ')}, not '${sort.slice(0, 64)}'`);
      }
      const q = (query.get('q') ?? '').trim().toLowerCase();
      if (q.length > MAX_QUERY) throw new UiError(400, 'BAD_PARAMETER', `'q' is longer than ${MAX_QUERY} characters: no tag is`);
      authorize(opts.policy, viewer, pull(name), `see ${name}`);
      const all = (await tagsOf(name)).filter((t) => q === '' || t.toLowerCase().includes(q));
      let pending = 0;
      let shown: { items: string[]; next: string | null };
      if (sort === 'name') {
        shown = page(all, last, n);
      } else if (sort === 'version') {
        shown = pageAfter([...all].sort(compareVersions), last, n, compareVersions);
      } else {
        const ordered = await newestFirst(name, all);
        pending = ordered.pending;
        // While dates are pending the order moves: a cursor no longer in it starts the list again.
        shown = pageAfter(ordered.sorted, last, n);
      }
      const [read, canDelete] = await Promise.all([
        mapLimit(shown.items, PER_REQUEST, async (tag) => {
          // Newest first uses the rows its order came from; the other orders read each row now.
          const hit = sort === 'created' ? freshRow(name, tag) : undefined;
          return hit ? hit.row : readRow(name, tag);
        }),
        opts.policy(viewer.account, remove(name)) ? opts.images.deletes(name) : Promise.resolve(false),
      ]);
      return {
        name, tags: read.filter((r): r is TagSummary => r !== null), next: shown.next, total: all.length, canDelete, sort,
        ...(sort === 'created' ? { pending } : {}),
      };
    },
  };
}

export type Lists = ReturnType<typeof createLists>;
