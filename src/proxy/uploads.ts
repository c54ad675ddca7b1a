// Where each chunked upload stands, as the upstream last said. distribution
// 2.8 appends a PATCH at whatever offset its Content-Range claims (a chunk
// sent out of order, or retried, corrupts the blob or gets 404), and answers
// a GET on an upload URL whose `_state` is stale with 404. The spec wants 416
// for a chunk that does not start at the upload's offset, and 204 with Range
// and Location for the GET. The gateway sees every answer the upstream gives
// for the uploads it forwards: each 202 carries a Location whose `_state`
// holds the new offset. That is kept here, per process, bounded.
//
// Across replicas this memory is not shared: a replica that did not forward
// the previous chunk falls back on the `_state` of the URL the client sent
// (the offset as of that URL). That catches a chunk out of order against its
// URL, but not a retry with an old URL, which then gets distribution's own
// answer (404). Sticky sessions, or this map in Redis, would close that gap.
import { LRUCache } from 'lru-cache';

/** An upload's place: its offset and the upstream's latest URL for it (path and query). */
export interface UploadPlace { offset: number; location: string }

const HMAC_BYTES = 32; // distribution's _state: base64url(HMAC-SHA256 || JSON)
const MAX_STATE = 4096;

/**
 * The Offset in a distribution `_state` (not verified: the upstream checks
 * its HMAC; the gateway uses it only to refuse a chunk, never to allow one).
 */
export function stateOffset(state: string | undefined): number | undefined {
  if (!state || state.length > MAX_STATE) return undefined;
  try {
    const raw = Buffer.from(state.replace(/=+$/, ''), 'base64url');
    if (raw.length <= HMAC_BYTES) return undefined;
    const offset = (JSON.parse(raw.subarray(HMAC_BYTES).toString('utf8')) as { Offset?: unknown }).Offset;
    return typeof offset === 'number' && Number.isSafeInteger(offset) && offset >= 0 ? offset : undefined;
  } catch {
    return undefined;
  }
}

/** `Range` as distribution writes it for an offset: the bytes held, `0-0` when none. */
export const rangeFor = (offset: number): string => `0-${Math.max(0, offset - 1)}`;

export interface UploadOffsets {
  known(name: string, uuid: string): UploadPlace | undefined;
  /** The upstream's answer to a request on an upload of `name` (`uuid`: the request's, none on the POST that starts one). */
  observe(name: string, uuid: string | undefined, method: string, status: number, location: string | undefined): void;
  forget(name: string, uuid: string): void;
}

/** An upload URL, its id as routes.ts accepts it. */
export const UPLOAD_PATH = /^\/v2\/(.+)\/blobs\/uploads\/([A-Za-z0-9_.=-]+)$/;

export function createUploadOffsets(max = 10_000, ttlMs = 60 * 60_000): UploadOffsets {
  const places = new LRUCache<string, UploadPlace>({ max, ttl: ttlMs });
  const key = (name: string, uuid: string) => `${name}\n${uuid}`;
  return {
    known: (name, uuid) => places.get(key(name, uuid)),
    forget: (name, uuid) => void places.delete(key(name, uuid)),
    observe(name, asked, method, status, location) {
      // Done (the blob is stored) or cancelled: the 201's Location is the blob's.
      if (asked && (status === 201 || (method === 'DELETE' && status === 204))) return void places.delete(key(name, asked));
      if (!location || (status !== 202 && status !== 204)) return;
      let url: URL;
      try {
        url = new URL(location, 'http://upstream.invalid');
      } catch {
        return;
      }
      const m = UPLOAD_PATH.exec(url.pathname);
      if (!m || m[1] !== name) return;
      const uuid = m[2]!;
      const offset = stateOffset(url.searchParams.get('_state') ?? undefined);
      if (offset !== undefined) places.set(key(name, uuid), { offset, location: url.pathname + url.search });
    },
  };
}
