// What the web UI reads of images from the upstream: manifests (OCI image
// and index, Docker v2 manifest and list), config blobs, referrers, and
// whether the upstream deletes. Paths are built only from names and
// references already parsed (params.ts). Manifests and configs are content-
// addressed, so what is read of a digest is kept (per repository, bounded):
// a tag page costs a HEAD per tag once its images were seen. Upstream work is
// bounded per API request (a few at a time) and in all (the UI must not take
// the upstream from docker pulls).
//
// Whoever may push chooses what these bytes hold, so everything that grows
// with them is bounded: an index lists its entries from itself and expands
// only the first EXPANDED (the others when opened, one API call each); a
// config is read once per digest however many children name it, at most
// MAX_CONFIG bytes of it, and kept cut to CONFIG_BUDGET characters (each
// string to FIELD_MAX, marked); the cache is bounded in bytes, not entries.
import { createHash } from 'node:crypto';
import type { OutgoingHttpHeaders } from 'node:http';
import { LRUCache } from 'lru-cache';
import type { Upstream, UpstreamAnswer } from '../proxy/upstream.js';
import type * as Api from './apiTypes.js';
import { DIGEST } from './params.js';
import { UiError } from './reply.js';

export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const MANIFEST_ACCEPT = [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST].join(', ');
const INDEX_TYPES = new Set([OCI_INDEX, DOCKER_LIST]);
const CONFIG_TYPES = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);
// distribution's own limit for a manifest; configs are small too.
const MAX_MANIFEST = 4 * 1024 * 1024;
export const MAX_CONFIG = 4 * 1024 * 1024;
/** An index's entries whose manifests and configs one read expands; the rest are read when opened. */
export const EXPANDED = 16;
/** An index's entries listed at all (the rest are counted: `entries`). */
export const MAX_LISTED = 1000;
/** An image's layers listed (all are summed into its size). */
export const MAX_LAYERS = 1000;
/** One string of a config as shown (created_by, an env entry, a label): longer ones are cut and marked. */
export const FIELD_MAX = 4096;
export const TRUNCATED = ' … [truncated]';
/** Characters of one config's fields together (env, labels, history, entrypoint, cmd). */
export const CONFIG_BUDGET = 64 * 1024;
/** Characters of one entry's annotations together. */
const ANNOTATIONS_BUDGET = 1024;
/** What the cache holds in all, as JSON characters (about what it takes in memory, within a small factor). */
const CACHE_BYTES = 8 * 1024 * 1024;
/** Upstream requests one API request makes at a time. */
export const PER_REQUEST = 8;
/** Upstream requests all web UI requests make at a time. */
const IN_ALL = 32;
const ZERO_DIGEST = `sha256:${'0'.repeat(64)}`;

// The API's shapes (apiTypes.ts, which the web client reads too), as this
// module always fills them: every field given, lists and maps never null.
export type Platform = Api.Platform;
export type Layer = Api.Layer;
export type HistoryEntry = Required<Api.HistoryEntry>;
/** truncated: something was cut to CONFIG_BUDGET or FIELD_MAX. */
export type Config = Required<Omit<Api.ImageConfig, 'env' | 'labels' | 'history'>> & {
  env: string[];
  labels: Record<string, string>;
  history: HistoryEntry[];
};

/** One image manifest: its own bytes plus config plus layers. */
export interface Image {
  kind: 'image';
  digest: string;
  mediaType: string;
  size: number;
  layers: Layer[];
  /** All of them, listed or not (MAX_LAYERS). */
  layerCount: number;
  config: Config | null;
  /** From the config (an image manifest names none itself). */
  platform: Platform | null;
}

/**
 * An index's entry: the platform's manifest, config and layers (size is their
 * sum). annotations: for what is no image of its own (an attestation:
 * platform unknown/unknown). loaded: whether its manifest and config were
 * read (the first EXPANDED are); otherwise size is what the index declares
 * for the manifest alone, and the `platform` API parameter reads the rest.
 */
export type IndexEntry = Required<Omit<Api.PlatformManifest, 'config'>> & { config: Config | null };

export interface Index {
  kind: 'index';
  digest: string;
  mediaType: string;
  /** The sum over its platforms (the declared manifest size for those not loaded). */
  size: number;
  platforms: IndexEntry[];
  /** Entries in the index, MAX_LISTED of them listed. */
  entries: number;
}

export type Details = Image | Index;

export type Referrer = Required<Omit<Api.Referrer, 'annotations'>> & { annotations: Record<string, string> };

/** Runs at most `n` at once; the rest wait their turn. */
export function limiter(n: number) {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async function run<T>(task: () => Promise<T>): Promise<T> {
    if (running >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await task();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}

/** fn over every item, at most `n` at a time, results in order. */
export async function mapLimit<T, R>(items: readonly T[], n: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return results;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
/** A string cut to `max`, marked. */
export const cut = (v: string, max = FIELD_MAX): string => (v.length > max ? v.slice(0, max) + TRUNCATED : v);
const strs = (v: unknown): string[] | null => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : null);
const num = (v: unknown): number => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0);
const record = (v: unknown, budget = ANNOTATIONS_BUDGET): Record<string, string> => {
  const out: Record<string, string> = {};
  if (!v || typeof v !== 'object' || Array.isArray(v)) return out;
  for (const [k, value] of Object.entries(v)) {
    if (typeof value !== 'string') continue;
    const key = cut(k, 256);
    const shown = cut(value, 512);
    budget -= key.length + shown.length;
    if (budget < 0) break;
    out[key] = shown;
  }
  return out;
};
const object = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? v as Record<string, unknown> : {});

function parseJson(body: Buffer, what: string): Record<string, unknown> {
  try {
    return object(JSON.parse(body.toString('utf8')));
  } catch {
    throw new UiError(502, 'UPSTREAM', `the upstream sent ${what} that is not JSON`);
  }
}

export function platformOf(v: unknown): Platform | null {
  const p = object(v);
  const os = str(p.os);
  const architecture = str(p.architecture);
  if (os === null || architecture === null || os.length > 64 || architecture.length > 64) return null;
  const variant = str(p.variant)?.slice(0, 64);
  return { os, architecture, ...(variant ? { variant } : {}) };
}

/** An image config (OCI image-spec config.md; Docker's is the same here), as the UI shows it. */
export function parseConfig(body: Buffer): Config {
  return configFields(parseJson(body, 'an image config'));
}

/**
 * The fields the UI shows, within CONFIG_BUDGET characters in all: lists
 * are filled in order (how it starts, env, labels, then history) until the
 * budget is spent; each string is cut to FIELD_MAX.
 */
function configFields(c: Record<string, unknown>): Config {
  const run = object(c.config);
  let left = CONFIG_BUDGET;
  let truncated = false;
  const short = (v: unknown, max = 256): string | null => {
    const s = str(v);
    if (s === null) return null;
    if (s.length > max) truncated = true;
    return cut(s, max);
  };
  /** A string within the budget, or undefined once the budget is spent. */
  const spend = (s: string): string | undefined => {
    const shown = cut(s);
    if (shown.length !== s.length) truncated = true;
    if (shown.length > left) {
      truncated = true;
      left = 0;
      return undefined;
    }
    left -= shown.length + 8; // and the JSON around it
    return shown;
  };
  const list = (v: unknown): string[] | null => {
    const all = strs(v);
    if (all === null) return null;
    const out: string[] = [];
    for (const s of all) {
      const shown = spend(s);
      if (shown === undefined) break;
      out.push(shown);
    }
    return out;
  };
  const entrypoint = list(run.Entrypoint);
  const cmd = list(run.Cmd);
  const env = list(run.Env) ?? [];
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(object(run.Labels))) {
    if (typeof v !== 'string') continue;
    const key = spend(k);
    const value = key === undefined ? undefined : spend(v);
    if (key === undefined || value === undefined) break;
    labels[key] = value;
  }
  const history: HistoryEntry[] = [];
  for (const h of Array.isArray(c.history) ? c.history : []) {
    if (left <= 0) {
      truncated = true;
      break;
    }
    const e = object(h);
    const createdBy = str(e.created_by);
    const comment = str(e.comment);
    const shownBy = createdBy === null ? null : spend(createdBy);
    const shownComment = comment === null || shownBy === undefined ? null : spend(comment);
    if (shownBy === undefined || shownComment === undefined) break;
    left -= 64;
    history.push({ created: short(e.created, 64), createdBy: shownBy, emptyLayer: e.empty_layer === true, comment: shownComment });
  }
  return {
    created: short(c.created, 64),
    os: short(c.os, 64),
    architecture: short(c.architecture, 64),
    entrypoint, cmd, env, labels,
    workingDir: short(run.WorkingDir, 1024) || null,
    user: short(run.User) || null,
    history,
    truncated,
  };
}

function descriptors(v: unknown): { digest: string; mediaType: string; size: number; platform: Platform | null; annotations: Record<string, string>; artifactType: string | null }[] {
  if (!Array.isArray(v)) return [];
  return v.flatMap((d) => {
    const o = object(d);
    const digest = str(o.digest);
    // Only digests of the registry's grammar go into a path or a page.
    if (digest === null || !DIGEST.test(digest)) return [];
    return [{
      digest, mediaType: (str(o.mediaType) ?? '').slice(0, 256), size: num(o.size), platform: platformOf(o.platform),
      annotations: record(o.annotations), artifactType: str(o.artifactType)?.slice(0, 256) ?? null,
    }];
  });
}

const sha256 = (body: Buffer) => `sha256:${createHash('sha256').update(body).digest('hex')}`;

/** A digest the bytes must have: checked where we can (sha256), so a confused upstream cannot show one image as another. */
function checkDigest(body: Buffer, digest: string): void {
  if (digest.startsWith('sha256:') && sha256(body) !== digest) {
    throw new UiError(502, 'UPSTREAM', `the upstream's content for ${digest} does not have that digest`);
  }
}

export interface ImageReaderOptions {
  upstream: Upstream;
  /** Headers every upstream request carries (Host, X-Forwarded-Proto). */
  headers: () => OutgoingHttpHeaders;
  /** What the cache holds in all, as JSON characters. */
  cacheBytes?: number;
}

/** The same work asked for again while it runs is shared, not done twice. */
function sharedRuns<T>() {
  const running = new Map<string, Promise<T>>();
  return (key: string, work: () => Promise<T>): Promise<T> => {
    let run = running.get(key);
    if (!run) {
      run = work().finally(() => running.delete(key));
      running.set(key, run);
    }
    return run;
  };
}

type ConfigRead = { config: Config; platform: Platform | null } | null;

export type Head = { digest: string; mediaType: string; size: number };

export function createImageReader(opts: ImageReaderOptions) {
  const inAll = limiter(IN_ALL);
  // Weighed by their JSON, which is bounded (the fields are cut): one weighing per entry.
  const cache = new LRUCache<string, Details>({
    maxSize: opts.cacheBytes ?? CACHE_BYTES,
    sizeCalculation: (d) => Math.max(1, JSON.stringify(d).length),
  });
  const configs = new LRUCache<string, { read: ConfigRead }>({
    maxSize: Math.max(1, Math.floor((opts.cacheBytes ?? CACHE_BYTES) / 4)),
    sizeCalculation: (c) => Math.max(1, JSON.stringify(c).length),
  });
  const configRuns = sharedRuns<ConfigRead>();
  const detailRuns = sharedRuns<Details>();
  const childRuns = sharedRuns<Image | undefined>();
  // Whether the upstream deletes: asked once (a DELETE of a digest nobody has).
  let deletes: boolean | undefined;
  let askedAt = 0;

  const call = (
    method: 'GET' | 'HEAD' | 'DELETE', path: string, accept?: string, maxBytes = MAX_MANIFEST + 1,
  ): Promise<UpstreamAnswer> => inAll(async () => {
    const headers = { ...opts.headers(), ...(accept ? { accept } : {}) };
    try {
      return method === 'GET'
        ? await opts.upstream.get(path, headers, 10_000, false, maxBytes)
        : await opts.upstream.send(method, path, headers);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'TOO_LARGE') {
        throw new UiError(502, 'UPSTREAM', `the upstream's answer for ${path} is too large`);
      }
      throw new UiError(503, 'UPSTREAM_UNAVAILABLE', `the upstream registry did not answer (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  });

  const refusedBy = (r: UpstreamAnswer, what: string): UiError => (r.status === 404
    ? new UiError(404, 'NOT_FOUND', `${what} not found`)
    : new UiError(502, 'UPSTREAM', `the upstream answered ${r.status} for ${what}`));

  /** The manifest's bytes, its digest and media type. */
  async function manifest(name: string, ref: string): Promise<{ body: Buffer; digest: string; mediaType: string }> {
    const r = await call('GET', `/v2/${name}/manifests/${ref}`, MANIFEST_ACCEPT);
    if (r.status !== 200) throw refusedBy(r, `${name}:${ref}`);
    if (r.body.length > MAX_MANIFEST) throw new UiError(502, 'UPSTREAM', `the manifest ${name}:${ref} is larger than 4 MiB`);
    const header = str(r.headers['docker-content-digest']);
    const digest = ref.includes(':') ? ref : (header ?? sha256(r.body));
    checkDigest(r.body, digest);
    const body = parseJson(r.body, `the manifest ${name}:${ref}`);
    const mediaType = str(body.mediaType) ?? String(r.headers['content-type'] ?? '').split(';')[0]!.trim();
    return { body: r.body, digest, mediaType };
  }

  /** The image config and the platform it names (os, architecture, variant). */
  /** The image config and the platform it names (os, architecture, variant): read once per digest. */
  function config(name: string, digest: string, mediaType: string): Promise<ConfigRead> {
    // An artifact's config (a Helm chart's, a signature's) is no image config.
    if (!CONFIG_TYPES.has(mediaType)) return Promise.resolve(null);
    const key = `${name}@${digest}`;
    const hit = configs.get(key);
    if (hit) return Promise.resolve(hit.read);
    return configRuns(key, async () => {
      // Too large (more than MAX_CONFIG, not read past that) or not there: the config is unknown.
      const r = await call('GET', `/v2/${name}/blobs/${digest}`, undefined, MAX_CONFIG).catch((err: unknown) => {
        if (err instanceof UiError && err.status === 502) return undefined;
        throw err;
      });
      // A redirect to storage elsewhere (S3) is not followed: the config is then unknown.
      let read: ConfigRead = null;
      if (r?.status === 200) {
        checkDigest(r.body, digest);
        const c = parseJson(r.body, `the config ${digest}`);
        read = { config: configFields(c), platform: platformOf(c) };
      }
      configs.set(key, { read });
      return read;
    });
  }

  async function image(name: string, digest: string, mediaType: string, raw: Buffer): Promise<Image> {
    const m = parseJson(raw, `the manifest ${name}@${digest}`);
    const all = descriptors(m.layers).map(({ digest: d, mediaType: t, size }) => ({ digest: d, mediaType: t, size }));
    const cfg = descriptors([m.config])[0];
    const parsed = cfg ? await config(name, cfg.digest, cfg.mediaType) : null;
    return {
      kind: 'image', digest, mediaType,
      size: raw.length + (cfg?.size ?? 0) + all.reduce((sum, l) => sum + l.size, 0),
      layers: all.slice(0, MAX_LAYERS), layerCount: all.length, config: parsed?.config ?? null, platform: parsed?.platform ?? null,
    };
  }

  type Entry = ReturnType<typeof descriptors>[number];
  const shallow = (e: Entry): IndexEntry => ({
    digest: e.digest, mediaType: e.mediaType, platform: e.platform, size: e.size,
    layers: [], config: null, annotations: e.annotations, loaded: false,
  });

  /** One entry of an index with its manifest, layers and config read. */
  async function expand(name: string, e: Entry): Promise<IndexEntry> {
    // One level: an index inside an index is listed with the size it declares.
    if (INDEX_TYPES.has(e.mediaType)) return { ...shallow(e), loaded: true };
    const img = await imageAt(name, e.digest);
    return {
      digest: e.digest, mediaType: e.mediaType, platform: e.platform ?? img?.platform ?? null,
      size: img?.size ?? e.size, layers: img?.layers ?? [], config: img?.config ?? null, annotations: e.annotations, loaded: true,
    };
  }

  /** An index's child image by digest (cached), or undefined when the push left it out. */
  async function imageAt(name: string, digest: string): Promise<Image | undefined> {
    const key = `${name}@${digest}`;
    const hit = cache.get(key);
    if (hit?.kind === 'image') return hit;
    return childRuns(key, async () => {
      const child = await manifest(name, digest).catch((err: unknown) => {
        if (err instanceof UiError && err.status === 404) return undefined; // a platform left out of the push
        throw err;
      });
      if (!child || INDEX_TYPES.has(child.mediaType)) return undefined;
      return await details(name, digest, child.mediaType, child.body) as Image;
    });
  }

  function details(name: string, digest: string, mediaType: string, raw: Buffer): Promise<Details> {
    const key = `${name}@${digest}`;
    const hit = cache.get(key);
    if (hit) return Promise.resolve(hit);
    return detailRuns(key, async () => {
      let found: Details;
      if (INDEX_TYPES.has(mediaType)) {
        const entries = descriptors(parseJson(raw, `the index ${name}@${digest}`).manifests);
        const listed = entries.slice(0, MAX_LISTED);
        // The first EXPANDED in full; the others from the index alone.
        const platforms = await mapLimit(listed.map((e, i) => [e, i] as const), PER_REQUEST,
          ([e, i]) => (i < EXPANDED ? expand(name, e) : Promise.resolve(shallow(e))));
        const size = platforms.reduce((sum, p) => sum + p.size, 0);
        found = { kind: 'index', digest, mediaType, size, platforms, entries: entries.length };
      } else {
        found = await image(name, digest, mediaType, raw);
      }
      cache.set(key, found);
      return found;
    });
  }

  return {
    /** A tag's (or digest's) manifest, read and parsed, with its platforms' for an index. */
    async read(name: string, ref: string): Promise<Details> {
      const m = await manifest(name, ref);
      return details(name, m.digest, m.mediaType, m.body);
    },

    /** What a tag points at now (HEAD), or undefined when it points nowhere (deleted meanwhile). */
    async head(name: string, ref: string): Promise<Head | undefined> {
      const r = await call('HEAD', `/v2/${name}/manifests/${ref}`, MANIFEST_ACCEPT);
      if (r.status === 404) return undefined;
      if (r.status !== 200) throw refusedBy(r, `${name}:${ref}`);
      const digest = str(r.headers['docker-content-digest']);
      const mediaType = String(r.headers['content-type'] ?? '').split(';')[0]!.trim();
      if (digest) return { digest, mediaType, size: Number(r.headers['content-length'] ?? 0) };
      const m = await manifest(name, ref);
      return { digest: m.digest, mediaType: m.mediaType, size: m.body.length };
    },

    /** One entry of an index (by its digest) in full: what opening a platform the index listed shows. */
    async entry(name: string, ref: string, digest: string): Promise<IndexEntry> {
      const m = await manifest(name, ref);
      if (!INDEX_TYPES.has(m.mediaType)) throw new UiError(400, 'NOT_INDEX', `${name}:${ref} is an image, not an index: drop platform=`);
      const entries = descriptors(parseJson(m.body, `the index ${name}:${ref}`).manifests);
      const e = entries.find((x) => x.digest === digest);
      if (!e) throw new UiError(404, 'NOT_FOUND', `the index ${name}:${ref} has no entry ${digest}`);
      return expand(name, e);
    },

    /** The details of a digest: kept once read. */
    async byDigest(name: string, head: Head): Promise<Details> {
      const hit = cache.get(`${name}@${head.digest}`);
      if (hit) return hit;
      const m = await manifest(name, head.digest);
      return details(name, m.digest, m.mediaType, m.body);
    },

    /**
     * What refers to a digest (signatures, SBOMs): the referrers API (OCI
     * distribution 1.1), else the index its fallback tag (sha256-<hex>)
     * names, when `fallbackTag` says the repository has it. null: neither
     * could be read.
     */
    async referrers(name: string, digest: string, fallbackTag?: string): Promise<Referrer[] | null> {
      const listed = async (path: string): Promise<Referrer[] | null> => {
        const r = await call('GET', path, OCI_INDEX);
        if (r.status !== 200) return null;
        let index: Record<string, unknown>;
        try {
          index = parseJson(r.body, 'a referrers list');
        } catch {
          return null;
        }
        return descriptors(index.manifests).map((d) => ({
          digest: d.digest, artifactType: d.artifactType, mediaType: d.mediaType, size: d.size, annotations: d.annotations,
        }));
      };
      // Without the API and without the fallback tag nothing refers to it: the
      // gateway writes that tag whenever a referrer is pushed through it.
      return (await listed(`/v2/${name}/referrers/${digest}`)) ?? (fallbackTag ? listed(`/v2/${name}/manifests/${fallbackTag}`) : []);
    },

    /** Whether the upstream deletes manifests: distribution answers 405 UNSUPPORTED when storage.delete is off. */
    async deletes(name: string): Promise<boolean> {
      if (deletes !== undefined) return deletes;
      // An answer that says neither (the upstream down, or asking for credentials) is asked again after a minute.
      if (Date.now() - askedAt < 60_000) return false;
      askedAt = Date.now();
      const r = await call('DELETE', `/v2/${name}/manifests/${ZERO_DIGEST}`).catch(() => undefined);
      if (r?.status === 405) deletes = false;
      else if (r?.status === 404 || r?.status === 202) deletes = true;
      return deletes ?? false;
    },

    /** Deletes a manifest by digest (and so every tag on it). */
    async remove(name: string, digest: string): Promise<void> {
      const r = await call('DELETE', `/v2/${name}/manifests/${digest}`);
      if (r.status === 202) {
        cache.delete(`${name}@${digest}`);
        return;
      }
      if (r.status === 405) {
        deletes = false;
        throw new UiError(405, 'UNSUPPORTED', 'the upstream registry has deleting turned off (distribution: storage.delete.enabled: true turns it on)');
      }
      throw refusedBy(r, `${name}@${digest}`);
    },
  };
}

export type ImageReader = ReturnType<typeof createImageReader>;
