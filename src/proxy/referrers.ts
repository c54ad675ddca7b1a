// The OCI 1.1 referrers API over an upstream without one (distribution 2.8),
// served from the spec's referrers tag schema: the referrers of a digest
// `alg:hex` are the descriptors of the image index tagged `alg-hex` (the
// "fallback" index). The gateway keeps that index up to date when a
// manifest with a `subject` is pushed through it, and answers
// GET /v2/<name>/referrers/<digest> from it. Everything read here is what
// the upstream stores: the pushed manifest's exact bytes (parsed here, then
// sent as they are), and the index as the upstream returns it.
//
// Concurrent pushes of referrers to one subject would each read the index,
// add one entry and write it back, and the last write would drop the
// others'. Within a process the updates of one index are serialised. Across
// processes (distribution 2.8 has no conditional PUT) each writer reads the
// index back after its write, and twice more after a short random wait, and
// writes again when another process's write dropped its entry, a bounded
// number of times; one that cannot see its entry kept answers without
// OCI-Subject, and the client then writes the index itself. Not exact: a
// lock shared by the processes would be (README, OCI 1.1).
import { createHash } from 'node:crypto';
import type { OutgoingHttpHeaders } from 'node:http';
import { digestProblem } from '../registry/routes.js';
import type { Upstream } from './upstream.js';

export const INDEX_TYPE = 'application/vnd.oci.image.index.v1+json';
const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
/** distribution's and the spec's clients' manifest limit: a pushed manifest, and the fallback index. */
export const MAX_MANIFEST = 4 * 1024 * 1024;
const TIMEOUT_MS = 30_000;
const WRITE_TRIES = 10;
/** Reads that must still show a write, a settling wait apart, before it counts as kept. */
const CONFIRMATIONS = 2;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Entries of one fallback index, past which an update is refused (the index stays under MAX_MANIFEST). */
const MAX_REFERRERS = 10_000;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** The referrers tag schema's tag for a digest: `<alg>-<ref>`, alg up to 32 characters, ref up to 64. */
export function fallbackTag(digest: string): string {
  const [alg, ref] = digest.split(':') as [string, string];
  return `${alg.slice(0, 32)}-${ref.slice(0, 64)}`;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isString = (v: unknown): v is string => typeof v === 'string';

function stringMap(v: unknown): Record<string, string> | undefined {
  if (!isObject(v)) return undefined;
  const entries = Object.entries(v).filter((e): e is [string, string] => isString(e[1]));
  return entries.length > 0 ? Object.fromEntries(entries) : undefined;
}

/** A descriptor as the spec defines one; anything else in an index is skipped. */
function descriptor(v: unknown): Descriptor | undefined {
  if (!isObject(v) || !isString(v.mediaType) || !isString(v.digest) || digestProblem(v.digest) !== undefined) return undefined;
  if (typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0) return undefined;
  const annotations = stringMap(v.annotations);
  return {
    mediaType: v.mediaType, digest: v.digest, size: v.size,
    ...(isString(v.artifactType) ? { artifactType: v.artifactType } : {}), ...(annotations ? { annotations } : {}),
  };
}

/** What a pushed manifest says of itself, if it refers to a subject: its subject and its descriptor in the index. */
export function referrerOf(body: Buffer, contentType: string | undefined): { subject: string; descriptor: Descriptor } | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isObject(doc) || !isObject(doc.subject) || !isString(doc.subject.digest) || digestProblem(doc.subject.digest)) return undefined;
  const mediaType = isString(doc.mediaType) ? doc.mediaType : contentType;
  if (mediaType !== MANIFEST_TYPE && mediaType !== INDEX_TYPE) return undefined;
  // The spec: artifactType, else (an image manifest) the config's media type.
  const config = isObject(doc.config) && isString(doc.config.mediaType) ? doc.config.mediaType : undefined;
  const artifactType = isString(doc.artifactType) ? doc.artifactType : mediaType === MANIFEST_TYPE ? config : undefined;
  const annotations = stringMap(doc.annotations);
  return {
    subject: doc.subject.digest,
    descriptor: {
      mediaType, digest: `sha256:${createHash('sha256').update(body).digest('hex')}`, size: body.length,
      ...(artifactType ? { artifactType } : {}), ...(annotations ? { annotations } : {}),
    },
  };
}

export type FallbackRead = { kind: 'index'; manifests: Descriptor[] } | { kind: 'none' } | { kind: 'failed'; status: number };

/** The fallback index of a digest as the upstream stores it: its descriptors, none (404), or why not. */
export async function readFallback(upstream: Upstream, name: string, digest: string, headers: OutgoingHttpHeaders): Promise<FallbackRead> {
  const r = await upstream.get(`/v2/${name}/manifests/${fallbackTag(digest)}`, { ...headers, accept: INDEX_TYPE }, TIMEOUT_MS, false,
    MAX_MANIFEST);
  if (r.status === 404) return { kind: 'none' };
  if (r.status !== 200) return { kind: 'failed', status: r.status };
  let doc: unknown;
  try {
    doc = JSON.parse(r.body.toString('utf8'));
  } catch {
    return { kind: 'failed', status: 502 };
  }
  // Something else under that tag is not a referrers list: it is left alone.
  if (!isObject(doc) || (doc.mediaType !== undefined && doc.mediaType !== INDEX_TYPE) || !Array.isArray(doc.manifests)) {
    return { kind: 'failed', status: 409 };
  }
  return { kind: 'index', manifests: doc.manifests.flatMap((d) => descriptor(d) ?? []) };
}

/** The referrers API's answer: an image index of the referrers, filtered by artifactType when asked. */
export function referrersIndex(manifests: readonly Descriptor[], artifactType: string | undefined): { body: Buffer; filtered: boolean } {
  const listed = artifactType === undefined ? manifests : manifests.filter((d) => d.artifactType === artifactType);
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX_TYPE, manifests: listed }));
  return { body, filtered: artifactType !== undefined };
}

export interface Referrers {
  /** Adds a referrer to its subject's fallback index; false when the index could not be written (the log says why). */
  add(name: string, subject: string, referrer: Descriptor, headers: OutgoingHttpHeaders): Promise<boolean>;
  /** Takes a deleted referrer out of its subject's fallback index. */
  remove(name: string, subject: string, digest: string, headers: OutgoingHttpHeaders): Promise<boolean>;
}

export function createReferrers(
  upstream: Upstream, onFailure: (why: string, name: string, subject: string) => void, settleMs = 100,
): Referrers {
  // One update at a time per index in this process.
  const queues = new Map<string, Promise<unknown>>();
  function serialised<T>(key: string, work: () => Promise<T>): Promise<T> {
    const before = queues.get(key) ?? Promise.resolve();
    const run = before.then(work, work);
    const tail = run.catch(() => undefined);
    queues.set(key, tail);
    void tail.then(() => {
      if (queues.get(key) === tail) queues.delete(key);
    });
    return run;
  }

  /**
   * Rewrites a fallback index until it holds what `change` makes of it:
   * read, change, write, read back (another replica's write may have
   * replaced this one). undefined when done, else why not.
   */
  async function update(
    name: string, subject: string, headers: OutgoingHttpHeaders,
    change: (current: Descriptor[]) => Descriptor[], done: (current: Descriptor[]) => boolean,
  ): Promise<string | undefined> {
    let wrote = false;
    let confirmed = 0;
    for (let attempt = 0; attempt <= WRITE_TRIES;) {
      const read = await readFallback(upstream, name, subject, headers);
      if (read.kind === 'failed') return `reading the fallback index answered ${read.status}`;
      const current = read.kind === 'index' ? read.manifests : [];
      // Checked before the first write too: a push repeated, or a delete of what is not listed, costs no write.
      if (done(current)) {
        if (!wrote || confirmed >= CONFIRMATIONS) return undefined;
        // Another process that read the index before this write may still write its own over it: look again
        // once such a write has had time to land (a random wait, so that writers do not keep meeting).
        confirmed++;
        await sleep(settleMs * (1 + Math.random()));
        continue;
      }
      confirmed = 0;
      if (attempt === WRITE_TRIES) break;
      const manifests = change(current);
      if (manifests.length > MAX_REFERRERS) return `the fallback index already lists ${current.length} referrers`;
      const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX_TYPE, manifests }));
      if (body.length > MAX_MANIFEST) return `the fallback index would exceed ${MAX_MANIFEST} bytes`;
      const put = await upstream.put(`/v2/${name}/manifests/${fallbackTag(subject)}`, body, { ...headers, 'content-type': INDEX_TYPE },
        TIMEOUT_MS);
      if (put.status !== 201) return `writing the fallback index answered ${put.status}`;
      wrote = true;
      attempt++;
    }
    return `the fallback index kept changing under ${WRITE_TRIES} writes`;
  }

  async function run(name: string, subject: string, work: () => Promise<string | undefined>): Promise<boolean> {
    try {
      const failed = await serialised(`${name}@${subject}`, work);
      if (failed) onFailure(failed, name, subject);
      return failed === undefined;
    } catch (err) {
      onFailure((err as Error).message, name, subject);
      return false;
    }
  }

  const same = (a: Descriptor, b: Descriptor) => JSON.stringify(a) === JSON.stringify(b);
  return {
    add: (name, subject, referrer, headers) => run(name, subject, () => update(name, subject, headers,
      (current) => [...current.filter((d) => d.digest !== referrer.digest), referrer],
      (current) => current.some((d) => d.digest === referrer.digest && same(d, referrer)))),
    remove: (name, subject, digest, headers) => run(name, subject, () => update(name, subject, headers,
      (current) => current.filter((d) => d.digest !== digest),
      (current) => !current.some((d) => d.digest === digest))),
  };
}
