// Registry fixtures written straight into distribution's filesystem storage
// (docker/registry/v2/…): blobs by digest, and per repository the links
// that make them its layers, manifest revisions and tags. A thousand
// repositories or five hundred tags take a second or two this way, against
// minutes of pushes; the registry reads them as if they had been pushed
// (its catalog walks the repositories directory, its tag list the tags one).
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const LAYER = 'application/vnd.oci.image.layer.v1.tar';

export interface Descriptor { mediaType: string; digest: string; size: number; platform?: { os: string; architecture: string; variant?: string } }

const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A writer for one storage root; each blob is written once however many repositories link it. */
export function storageSeed(root: string) {
  const v2 = join(root, 'docker', 'registry', 'v2');
  const written = new Set<string>();
  const link = async (path: string, digest: string) => {
    await mkdir(path, { recursive: true });
    await writeFile(join(path, 'link'), digest);
  };

  async function blob(data: Buffer, mediaType: string): Promise<Descriptor> {
    const h = hex(data);
    if (!written.has(h)) {
      written.add(h);
      const dir = join(v2, 'blobs', 'sha256', h.slice(0, 2), h);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'data'), data);
    }
    return { mediaType, digest: `sha256:${h}`, size: data.length };
  }

  const repo = (name: string) => join(v2, 'repositories', ...name.split('/'));

  return {
    blob,
    /** A config (created, os/architecture) and a layer, linked into `name`. */
    async image(name: string, opts: { created: string; os?: string; architecture?: string; variant?: string; layer?: Buffer }) {
      const config = await blob(Buffer.from(JSON.stringify({
        architecture: opts.architecture ?? 'amd64', os: opts.os ?? 'linux', ...(opts.variant ? { variant: opts.variant } : {}),
        created: opts.created, config: { Entrypoint: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: [] },
      })), OCI_CONFIG);
      const layer = await blob(opts.layer ?? Buffer.alloc(1024, 7), LAYER);
      for (const d of [config, layer]) await link(join(repo(name), '_layers', 'sha256', d.digest.slice(7)), d.digest);
      const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] }));
      return this.manifest(name, manifest, OCI_MANIFEST);
    },
    /** A manifest's bytes as a revision of `name`. */
    async manifest(name: string, bytes: Buffer, mediaType: string): Promise<Descriptor> {
      const d = await blob(bytes, mediaType);
      await link(join(repo(name), '_manifests', 'revisions', 'sha256', d.digest.slice(7)), d.digest);
      return d;
    },
    /** An OCI index of `platforms` (already revisions of `name`). */
    async index(name: string, platforms: Descriptor[]): Promise<Descriptor> {
      const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: platforms }));
      return this.manifest(name, body, OCI_INDEX);
    },
    async tag(name: string, tag: string, d: Descriptor): Promise<void> {
      const tags = join(repo(name), '_manifests', 'tags', tag);
      await link(join(tags, 'current'), d.digest);
      await link(join(tags, 'index', 'sha256', d.digest.slice(7)), d.digest);
    },
  };
}

/** Runs `task` over `items`, `n` at a time. */
export async function eachLimit<T>(items: readonly T[], n: number, task: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) await task(items[next++]!);
  }));
}

export const LARGE_TAGS = 500;
export const LARGE_REPOSITORIES = 1000;
export const AGAIN_TAGS = 200;
/** 80 characters: the longest tag a page has to wrap. */
export const LONG_TAG = `release-${'x'.repeat(60)}-2026.01.15`.slice(0, 80);

/**
 * The large-registry fixture: `big/tags` with 500 tags build-001 … build-500
 * (build-N created N hours after the first: build-500 is the newest),
 * `big/again` with the last 200 of them, `semver/app` with v1.0.0 … v1.35.0
 * (dates out of version order), `semver/lib` with five tags on one digest, 1,000
 * repositories in ten namespaces (ns0/repo-000 …) with a `latest` each, and
 * `wide/app` whose 80-character tag is a two-platform index.
 */
export async function seedLargeRegistry(root: string): Promise<{ index: Descriptor }> {
  const s = storageSeed(root);
  const base = Date.parse('2026-01-01T00:00:00Z');
  const hours = (h: number) => new Date(base + h * 3_600_000).toISOString();
  await eachLimit(Array.from({ length: LARGE_TAGS }, (_, i) => i + 1), 16, async (i) => {
    await s.tag('big/tags', `build-${String(i).padStart(3, '0')}`, await s.image('big/tags', { created: hours(i) }));
  });
  // The last 200 again in a repository of their own (the same blobs: only links are written), for a second first visit.
  await eachLimit(Array.from({ length: AGAIN_TAGS }, (_, i) => LARGE_TAGS - AGAIN_TAGS + i + 1), 16, async (i) => {
    await s.tag('big/again', `build-${String(i).padStart(3, '0')}`, await s.image('big/again', { created: hours(i) }));
  });
  // Five tags on one digest, for the order of a manifest page's chips and the delete dialog.
  const lib = await s.image('semver/lib', { created: hours(999) });
  for (const tag of ['latest', 'v1.19.0', 'v1.10.0', 'v1.2.0', 'v1.1.0']) await s.tag('semver/lib', tag, lib);
  await eachLimit(Array.from({ length: 36 }, (_, i) => i), 16, async (i) => {
    // A date that is not the version order: 7 is coprime with 36, so each version gets its own hour.
    await s.tag('semver/app', `v1.${i}.0`, await s.image('semver/app', { created: hours(1000 + ((i * 7) % 36)) }));
  });
  const names = Array.from({ length: LARGE_REPOSITORIES }, (_, i) => `ns${Math.floor(i / 100)}/repo-${String(i % 100).padStart(3, '0')}`);
  await eachLimit(names, 16, async (name) => s.tag(name, 'latest', await s.image(name, { created: hours(2000) })));
  const amd = await s.image('wide/app', { created: hours(3000), architecture: 'amd64', layer: Buffer.alloc(2048, 1) });
  const arm = await s.image('wide/app', { created: hours(3001), architecture: 'arm64', variant: 'v8', layer: Buffer.alloc(3072, 2) });
  const index = await s.index('wide/app', [
    { ...amd, platform: { os: 'linux', architecture: 'amd64' } },
    { ...arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
  ]);
  await s.tag('wide/app', LONG_TAG, index);
  await s.tag('wide/app', 'latest', index);
  return { index };
}
