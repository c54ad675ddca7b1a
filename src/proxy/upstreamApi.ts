// What the upstream's own API covers of OCI distribution 1.1. distribution
// 2.8 (registry:2, Debian's docker-registry) has no referrers API and
// answers a tag DELETE with DIGEST_INVALID; a 1.1 registry (distribution 3,
// zot, Harbor 2.8+) serves both itself. The gateway asks once: a GET of the
// referrers of a digest nobody has. A 1.1 registry answers it with an image
// index (200) or a registry error (JSON); a 2.8 router has no such route and
// answers its plain-text "404 page not found". Anything else (401 from an
// upstream that authenticates, 5xx, no answer) decides nothing: the gateway
// then passes requests through, and asks again after 30 s. A deciding answer
// is kept per process for ttlMs: an upgraded upstream is noticed within that.
// The probe is made only for a caller who may pull the repository it reads.
import type { OutgoingHttpHeaders } from 'node:http';
import type { Upstream } from './upstream.js';

export type ApiKnowledge = 'oci-1.1' | 'distribution-2' | 'unknown';

export interface UpstreamApi {
  /** Whether the upstream serves referrers (and tag deletes) itself, asked on `name` with the request's headers. */
  referrers(name: string, headers: OutgoingHttpHeaders): Promise<ApiKnowledge>;
  /** What is known without asking (a caller who may not pull the repository the probe would read). */
  known(): ApiKnowledge;
}

const NOBODY = `sha256:${'0'.repeat(64)}`;
const PROBE_TIMEOUT_MS = 5000;
const PROBE_MAX_BYTES = 64 * 1024;
/** An answer that decides nothing is not asked again for this long: every request would cost the upstream a probe. */
const UNKNOWN_TTL_MS = 30_000;

/** How the answer to the probe reads. */
export function classifyProbe(status: number, contentType: string | undefined, body: Buffer): ApiKnowledge {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (status === 200 && type === 'application/vnd.oci.image.index.v1+json') return 'oci-1.1';
  if (status === 404) {
    if (type === 'application/json') {
      try {
        const errors = (JSON.parse(body.toString('utf8')) as { errors?: unknown }).errors;
        if (Array.isArray(errors) && errors.length > 0) return 'oci-1.1'; // the route exists: the repository does not
      } catch { /* not JSON after all: no route */ }
    }
    return 'distribution-2';
  }
  return 'unknown';
}

export function createUpstreamApi(upstream: Upstream, ttlMs = 10 * 60_000, now: () => number = Date.now): UpstreamApi {
  let known: { api: ApiKnowledge; until: number } | undefined;
  // One probe in flight at a time: a burst of first requests waits for it.
  let asking: Promise<ApiKnowledge> | undefined;
  async function probe(name: string, headers: OutgoingHttpHeaders): Promise<ApiKnowledge> {
    try {
      const r = await upstream.get(`/v2/${name}/referrers/${NOBODY}`, headers, PROBE_TIMEOUT_MS, false, PROBE_MAX_BYTES);
      const api = classifyProbe(r.status, r.headers['content-type'], r.body);
      known = { api, until: now() + (api === 'unknown' ? UNKNOWN_TTL_MS : ttlMs) };
      return api;
    } catch {
      known = { api: 'unknown', until: now() + UNKNOWN_TTL_MS };
      return 'unknown';
    }
  }
  return {
    known: () => (known && known.until > now() ? known.api : 'unknown'),
    async referrers(name, headers) {
      if (known && known.until > now()) return known.api;
      asking ??= probe(name, headers).finally(() => (asking = undefined));
      return asking;
    },
  };
}
