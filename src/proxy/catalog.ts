// The catalog and tag lists, paginated by the gateway itself. The upstream's
// own Link cursors name the last repository of its unfiltered page, which
// may be one the caller may not see (and following `last=` walked every
// private name): so the gateway reads the whole list, filters it, and builds
// pages and cursors from what the caller may see. `n` is capped, as
// distribution caps it since CVE-2023-2253.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { API_VERSION, API_VERSION_HEADER, sendJson } from '../http/responses.js';
import type { Route } from '../registry/routes.js';
import type { Upstream } from './upstream.js';

export const MAX_PAGE = 1000;
// distribution 2.8.2's default page without `n`, kept so clients see no change.
export const DEFAULT_CATALOG_PAGE = 100;
// Bounds the walk of a huge or misbehaving upstream (a million names).
const MAX_UPSTREAM_PAGES = 1000;

export type Listing =
  | { kind: 'list'; items: string[]; name?: string }
  | { kind: 'upstream'; status: number; contentType: string; body: Buffer };

/** Every entry of a list, following the upstream's pages. */
export async function readList(
  upstream: Upstream, path: string, key: 'repositories' | 'tags', headers: OutgoingHttpHeaders,
): Promise<Listing> {
  const items: string[] = [];
  let name: string | undefined;
  let last: string | undefined;
  for (let page = 0; page < MAX_UPSTREAM_PAGES; page++) {
    const query = key === 'repositories' || last ? `?n=${MAX_PAGE}${last ? `&last=${encodeURIComponent(last)}` : ''}` : '';
    const r = await upstream.get(path + query, headers);
    if (r.status !== 200) {
      return { kind: 'upstream', status: r.status, contentType: String(r.headers['content-type'] ?? 'application/json'), body: r.body };
    }
    const body = JSON.parse(r.body.toString('utf8')) as Record<string, unknown>;
    const entries = Array.isArray(body[key]) ? (body[key] as unknown[]).filter((x): x is string => typeof x === 'string') : [];
    if (typeof body.name === 'string') name = body.name;
    items.push(...entries);
    if (typeof r.headers.link !== 'string' || entries.length === 0) break;
    last = entries[entries.length - 1];
  }
  return { kind: 'list', items: [...new Set(items)].sort(), ...(name !== undefined ? { name } : {}) };
}

export interface Page {
  items: string[];
  /** The Link header for the next page, when there is one. */
  link?: string;
}

/** One page of a sorted list after `last`, with a cursor that is an entry of that list. */
export function paginate(
  sorted: readonly string[], path: string, params: ReadonlyMap<string, string>, defaultSize: number | undefined,
): Page {
  const last = params.get('last');
  const asked = params.has('n') ? Number(params.get('n')) : defaultSize;
  const size = Math.min(asked ?? sorted.length, MAX_PAGE);
  let start = 0;
  if (last !== undefined) {
    start = sorted.findIndex((x) => x > last);
    if (start === -1) start = sorted.length;
  }
  const items = sorted.slice(start, start + size);
  if (items.length === 0 || start + size >= sorted.length) return { items };
  const cursor = items[items.length - 1]!;
  return { items, link: `<${path}?last=${encodeURIComponent(cursor)}&n=${size}>; rel="next"` };
}

export interface ListingOptions {
  upstream: Upstream;
  headers: OutgoingHttpHeaders;
  /** Whether the caller may pull a repository: the catalog holds only those. */
  canPull: (name: string) => boolean;
}

/** Answers a catalog or tag-list request from the upstream's whole list. */
export async function listing(
  req: IncomingMessage, res: ServerResponse, route: Route, params: ReadonlyMap<string, string>, opts: ListingOptions,
) {
  const name = route.kind === 'repository' ? route.name : undefined;
  const path = name === undefined ? '/v2/_catalog' : `/v2/${name}/tags/list`;
  const list = await readList(opts.upstream, path, name === undefined ? 'repositories' : 'tags', opts.headers);
  if (list.kind === 'upstream') {
    res.writeHead(list.status, { 'Content-Type': list.contentType, [API_VERSION_HEADER]: API_VERSION });
    res.end(req.method === 'HEAD' ? undefined : list.body);
    return;
  }
  if (name === undefined) {
    const page = paginate(list.items.filter(opts.canPull), path, params, DEFAULT_CATALOG_PAGE);
    sendJson(res, 200, { repositories: page.items }, page.link ? { Link: page.link } : {});
    return;
  }
  const page = paginate(list.items, path, params, undefined);
  sendJson(res, 200, { name: list.name ?? name, tags: page.items }, page.link ? { Link: page.link } : {});
}
