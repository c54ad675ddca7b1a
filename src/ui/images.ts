// What the web UI reads of images from the upstream: manifests (OCI image
// and index, Docker v2 manifest and list), config blobs, referrers, and
// whether the upstream deletes. Paths are built only from names and
// references already parsed (params.ts). Manifests and configs are content-
// addressed, so what is read of a digest is kept (per repository, bounded):
// a tag page costs a HEAD per tag once its images were seen. Upstream work is
// bounded per API request (a few at a time) and in all (the UI must not take
// the upstream from docker pulls).
import { createHash } from 'node:crypto';
import type { OutgoingHttpHeaders } from 'node:http';
import type { Upstream, UpstreamAnswer } from '../proxy/upstream.js';
import { evictOldest } from '../util/evict.js';
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
const MAX_CONFIG = 4 * 1024 * 1024;
/** Upstream requests one API request makes at a time. */
export const PER_REQUEST = 8;
/** Upstream requests all web UI requests make at a time. */
const IN_ALL = 32;
const ZERO_DIGEST = `sha256:${'0'.repeat(64)}`;

export interface Platform { os: string; architecture: string; variant?: string }
export interface Layer { digest: string; mediaType: string; size: number }
export interface HistoryEntry { created: string | null; createdBy: string | null; emptyLayer: boolean; comment: string | null }
export interface Config {
  created: string | null;
  os: string | null;
  architecture: string | null;
  entrypoint: string[] | null;
  cmd: string[] | null;
  env: string[];
  labels: Record<string, string>;
  workingDir: string | null;
  user: string | null;
  history: HistoryEntry[];
}

/** One image manifest: its own bytes plus config plus layers. */
export interface Image {
  kind: 'image';
  digest: string;
  mediaType: string;
  size: number;
  layers: Layer[];
  config: Config | null;
  /** From the config (an image manifest names none itself). */
  platform: Platform | null;
}

export interface IndexEntry {
  digest: string;
  mediaType: string;
  platform: Platform | null;
  /** The platform's manifest, config and layers. */
  size: number;
  layers: Layer[];
  config: Config | null;
  /** For what is no image of its own (an attestation: platform unknown/unknown). */
  annotations: Record<string, string>;
}

export interface Index {
  kind: 'index';
  digest: string;
  mediaType: string;
  /** The sum over its platforms. */
  size: number;
  platforms: IndexEntry[];
}

export type Details = Image | Index;

export interface Referrer { digest: string; artifactType: string | null; mediaType: string; size: number; annotations: Record<string, string> }

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
const strs = (v: unknown): string[] | null => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : null);
const num = (v: unknown): number => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0);
const record = (v: unknown): Record<string, string> => (v && typeof v === 'object' && !Array.isArray(v)
  ? Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string')) : {});
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
  if (os === null || architecture === null) return null;
  const variant = str(p.variant);
  return { os, architecture, ...(variant ? { variant } : {}) };
}

/** An image config (OCI image-spec config.md; Docker's is the same here), as the UI shows it. */
export function parseConfig(body: Buffer): Config {
  return configFields(parseJson(body, 'an image config'));
}

function configFields(c: Record<string, unknown>): Config {
  const run = object(c.config);
  const history = Array.isArray(c.history) ? c.history.map((h) => {
    const e = object(h);
    return { created: str(e.created), createdBy: str(e.created_by), emptyLayer: e.empty_layer === true, comment: str(e.comment) };
  }) : [];
  return {
    created: str(c.created),
    os: str(c.os),
    architecture: str(c.architecture),
    entrypoint: strs(run.Entrypoint),
    cmd: strs(run.Cmd),
    env: strs(run.Env) ?? [],
    labels: record(run.Labels),
    workingDir: str(run.WorkingDir) || null,
    user: str(run.User) || null,
    history,
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
      digest, mediaType: str(o.mediaType) ?? '', size: num(o.size), platform: platformOf(o.platform),
      annotations: record(o.annotations), artifactType: str(o.artifactType),
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
  maxCached?: number;
}

export type Head = { digest: string; mediaType: string; size: number };

export function createImageReader(opts: ImageReaderOptions) {
  const inAll = limiter(IN_ALL);
  const cache = new Map<string, Details>();
  const maxCached = opts.maxCached ?? 5000;
  // Whether the upstream deletes: asked once (a DELETE of a digest nobody has).
  let deletes: boolean | undefined;
  let askedAt = 0;

  const call = (method: 'GET' | 'HEAD' | 'DELETE', path: string, accept?: string): Promise<UpstreamAnswer> => inAll(async () => {
    const headers = { ...opts.headers(), ...(accept ? { accept } : {}) };
    try {
      return method === 'GET' ? await opts.upstream.get(path, headers) : await opts.upstream.send(method, path, headers);
    } catch (err) {
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
  async function config(name: string, digest: string, mediaType: string): Promise<{ config: Config; platform: Platform | null } | null> {
    // An artifact's config (a Helm chart's, a signature's) is no image config.
    if (!CONFIG_TYPES.has(mediaType)) return null;
    const r = await call('GET', `/v2/${name}/blobs/${digest}`);
    // A redirect to storage elsewhere (S3) is not followed: the config is then unknown.
    if (r.status !== 200 || r.body.length > MAX_CONFIG) return null;
    checkDigest(r.body, digest);
    const c = parseJson(r.body, `the config ${digest}`);
    return { config: configFields(c), platform: platformOf(c) };
  }

  async function image(name: string, digest: string, mediaType: string, raw: Buffer): Promise<Image> {
    const m = parseJson(raw, `the manifest ${name}@${digest}`);
    const layers = descriptors(m.layers).map(({ digest: d, mediaType: t, size }) => ({ digest: d, mediaType: t, size }));
    const cfg = descriptors([m.config])[0];
    const parsed = cfg ? await config(name, cfg.digest, cfg.mediaType) : null;
    return {
      kind: 'image', digest, mediaType,
      size: raw.length + (cfg?.size ?? 0) + layers.reduce((sum, l) => sum + l.size, 0),
      layers, config: parsed?.config ?? null, platform: parsed?.platform ?? null,
    };
  }

  async function details(name: string, digest: string, mediaType: string, raw: Buffer, depth = 0): Promise<Details> {
    const key = `${name}@${digest}`;
    const hit = cache.get(key);
    if (hit) return hit;
    let found: Details;
    if (INDEX_TYPES.has(mediaType)) {
      const entries = descriptors(parseJson(raw, `the index ${name}@${digest}`).manifests);
      const platforms = await mapLimit(entries, PER_REQUEST, async (e): Promise<IndexEntry> => {
        // One level: an index inside an index is listed with the size it declares.
        if (depth > 0 || INDEX_TYPES.has(e.mediaType)) {
          return { digest: e.digest, mediaType: e.mediaType, platform: e.platform, size: e.size, layers: [], config: null, annotations: e.annotations };
        }
        const child = await manifest(name, e.digest).catch((err: unknown) => {
          if (err instanceof UiError && err.status === 404) return undefined; // a platform left out of the push
          throw err;
        });
        const img = child ? await details(name, e.digest, child.mediaType, child.body, depth + 1) as Image : undefined;
        return {
          digest: e.digest, mediaType: e.mediaType, platform: e.platform ?? img?.platform ?? null,
          size: img?.size ?? e.size, layers: img?.layers ?? [], config: img?.config ?? null, annotations: e.annotations,
        };
      });
      found = { kind: 'index', digest, mediaType, size: platforms.reduce((sum, p) => sum + p.size, 0), platforms };
    } else {
      found = await image(name, digest, mediaType, raw);
    }
    evictOldest(cache, () => cache.size >= maxCached);
    cache.set(key, found);
    return found;
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
     * names, when `fallbackTag` says the repository has it. null: the
     * upstream has no referrers API (distribution 2.8 answers 404) and no such tag.
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
      return (await listed(`/v2/${name}/referrers/${digest}`)) ?? (fallbackTag ? listed(`/v2/${name}/manifests/${fallbackTag}`) : null);
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
