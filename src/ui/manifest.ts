// GET and DELETE /ui/api/manifest: one tag or digest in full (an index with
// each platform's manifest, layers and config), what refers to it, and the
// tags on it; deleting a manifest by digest, where the rules grant delete
// and the upstream deletes. distribution 2.8 deletes no tag by name: the
// digest goes, and every tag on it.
//
// An index shows the first few platforms in full (images.ts: EXPANDED);
// `platform=<digest>` reads one more, as the page opens it. Whatever the
// images hold, the answer stays within RESPONSE_MAX: platforms read in full
// are given back as listed only (the page reads them when opened) until it fits.
import type { Policy } from '../auth/policy.js';
import type * as Api from './apiTypes.js';
import { authorize, pull, remove, type Viewer } from './access.js';
import { mapLimit, PER_REQUEST, type ImageReader, type IndexEntry } from './images.js';
import { checkParams, digest as digestParam, reference, repositoryName } from './params.js';
import type { Lists } from './repositories.js';

// Which tags point at a digest is asked tag by tag: only for repositories this small.
export const TAGS_LOOKED_UP = 100;
/** The most one answer of the API may hold (reply.ts refuses more). */
export const RESPONSE_MAX = 1024 * 1024;
/** What an answer is cut to here, room left for what reply.ts adds. */
const FIT = RESPONSE_MAX - 64 * 1024;

/** The platforms read in full are given back as listed only, last first, until the answer fits. */
export function fitted<T extends { platforms: IndexEntry[] }>(answer: T, max = FIT): T {
  let size = JSON.stringify(answer).length;
  const platforms = [...answer.platforms];
  for (let i = platforms.length - 1; size > max && i >= 0; i--) {
    const p = platforms[i]!;
    if (!p.loaded) continue;
    const listed = { ...p, layers: [], config: null, loaded: false };
    size -= JSON.stringify(p).length - JSON.stringify(listed).length;
    platforms[i] = listed;
  }
  return { ...answer, platforms };
}

export interface ManifestOptions {
  policy: Policy;
  images: ImageReader;
  lists: Lists;
}

export function createManifests(opts: ManifestOptions) {
  return {
    /** The API's ManifestDetail (apiTypes.ts), or with platform=<digest> one more PlatformManifest of an index. */
    async show(viewer: Viewer, query: URLSearchParams): Promise<Api.ManifestDetail | Api.PlatformManifest> {
      checkParams(query, ['name', 'ref', 'platform']);
      const name = repositoryName(query);
      const ref = reference(query);
      authorize(opts.policy, viewer, pull(name), `see ${name}`);
      if (query.has('platform')) return opts.images.entry(name, ref, digestParam(query, 'platform'));
      const d = await opts.images.read(name, ref);
      const all = await opts.lists.tagsOf(name).catch(() => [] as string[]);
      const fallbackTag = d.digest.startsWith('sha256:') ? `sha256-${d.digest.slice(7)}` : undefined;
      const [referrers, canDelete, tags] = await Promise.all([
        opts.images.referrers(name, d.digest, fallbackTag && all.includes(fallbackTag) ? fallbackTag : undefined),
        opts.policy(viewer.account, remove(name)) ? opts.images.deletes(name) : Promise.resolve(false),
        all.length <= TAGS_LOOKED_UP
          ? mapLimit(all, PER_REQUEST, async (t) => ((await opts.images.head(name, t))?.digest === d.digest ? t : undefined))
            .then((found) => found.filter((t): t is string => t !== undefined))
          : Promise.resolve(ref.includes(':') ? [] : [ref]),
      ]);
      const common = { name, ref, digest: d.digest, mediaType: d.mediaType, size: d.size, kind: d.kind, referrers, canDelete, tags };
      if (d.kind === 'image') return { ...common, layers: d.layers, layerCount: d.layerCount, config: d.config, platform: d.platform };
      return fitted({
        ...common,
        entries: d.entries,
        platforms: d.platforms.map((p) => ({
          digest: p.digest, mediaType: p.mediaType, platform: p.platform, size: p.size, layers: p.layers, config: p.config,
          annotations: p.annotations, loaded: p.loaded,
        })),
      });
    },

    async remove(viewer: Viewer, query: URLSearchParams) {
      checkParams(query, ['name', 'digest']);
      const name = repositoryName(query);
      const digest = digestParam(query);
      authorize(opts.policy, viewer, remove(name), `delete from ${name}`);
      await opts.images.remove(name, digest);
      return { name, digest };
    },
  };
}
