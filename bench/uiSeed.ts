// Data for the UI benchmark, made cheaply against the upstream registry
// itself (plain HTTP, no gateway): one tiny image is uploaded once; every
// other repository is a cross-repository mount of its two blobs plus a
// manifest PUT, and every other tag a manifest PUT, sent in parallel.
import { createHash } from 'node:crypto';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export interface TinyImage {
  repo: string;
  config: { digest: string; size: number };
  layer: { digest: string; size: number };
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function expectStatus(what: string, res: Response, want: number): Promise<void> {
  if (res.status !== want) throw new Error(`${what}: the upstream answered ${res.status} (expected ${want}): ${await res.text()}`);
  await res.arrayBuffer(); // drain: the connection goes back to the pool
}

async function uploadBlob(upstream: string, repo: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const start = await fetch(`${upstream}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  if (start.status !== 202) throw new Error(`upload start in ${repo}: ${start.status} ${await start.text()}`);
  await start.arrayBuffer();
  const url = new URL(start.headers.get('location')!, upstream);
  url.searchParams.set('digest', digest);
  await expectStatus(`blob PUT ${digest} in ${repo}`, await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array(data) }), 201);
  return digest;
}

/** The manifest of the tiny image; `annotation` makes a distinct digest per tag. */
export function manifestOf(image: TinyImage, annotation?: string): Buffer {
  return Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...image.config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...image.layer }],
    ...(annotation ? { annotations: { 'org.opencontainers.image.version': annotation } } : {}),
  }));
}

async function putManifest(upstream: string, repo: string, tag: string, body: Buffer): Promise<void> {
  await expectStatus(`manifest PUT ${repo}:${tag}`, await fetch(`${upstream}/v2/${repo}/manifests/${tag}`, { method: 'PUT', headers: { 'content-type': MANIFEST }, body: new Uint8Array(body) }), 201);
}

/** One small image (a 1 KiB layer) uploaded the ordinary way, tagged `tag`. */
export async function pushTinyImage(upstream: string, repo: string, tag = 'latest'): Promise<TinyImage> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', created: '2026-01-15T10:00:00Z', config: { Entrypoint: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: [] } }));
  const layer = Buffer.alloc(1024, 7);
  const image: TinyImage = {
    repo,
    config: { digest: await uploadBlob(upstream, repo, config), size: config.length },
    layer: { digest: await uploadBlob(upstream, repo, layer), size: layer.length },
  };
  await putManifest(upstream, repo, tag, manifestOf(image));
  return image;
}

/** Runs `task` over `items`, `concurrency` at a time. */
export async function inParallel<T>(items: readonly T[], concurrency: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

/** Each name becomes a repository holding the image as `tag`: two blob mounts (201, nothing copied) and a manifest PUT. */
export async function mountCopies(upstream: string, image: TinyImage, names: readonly string[], tag = 'latest', concurrency = 16): Promise<void> {
  const manifest = manifestOf(image);
  await inParallel(names, concurrency, async (name) => {
    for (const blob of [image.layer, image.config]) {
      const url = `${upstream}/v2/${name}/blobs/uploads/?mount=${blob.digest}&from=${encodeURIComponent(image.repo)}`;
      await expectStatus(`mount ${blob.digest} into ${name}`, await fetch(url, { method: 'POST' }), 201);
    }
    await putManifest(upstream, name, tag, manifest);
  });
}

/** `tags` more tags in the image's own repository, each on its own manifest (a distinct digest), as real release tags are. */
export async function addTags(upstream: string, image: TinyImage, tags: readonly string[], concurrency = 16): Promise<void> {
  await inParallel(tags, concurrency, (tag) => putManifest(upstream, image.repo, tag, manifestOf(image, tag)));
}

/** Names spread over a few namespaces, sorted as the catalog returns them. */
export function repositoryNames(count: number): string[] {
  const teams = ['apps', 'data', 'infra', 'ml', 'web'];
  return Array.from({ length: count }, (_, i) => `${teams[i % teams.length]}/service-${String(i).padStart(5, '0')}`).sort();
}

export function tagNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `1.${Math.floor(i / 100)}.${i % 100}`);
}
