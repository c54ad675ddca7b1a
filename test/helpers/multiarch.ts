// A two-platform OCI image index in an OCI layout, built with umoci (no
// daemon), pushed with `skopeo copy --all`. Layer contents come from a seeded
// generator and every timestamp is fixed, so the same call makes the same
// digests on every run: screenshots and expected sizes stay stable.
import { createHash } from 'node:crypto';
import { mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exec } from './exec.js';

const INDEX = 'application/vnd.oci.image.index.v1+json';
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
/** Every date in the images: a fixed one, so digests repeat across runs. */
export const CREATED = '2026-01-15T10:00:00Z';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface PlatformSpec {
  platform: Platform;
  /** One layer per entry, each a file of that many pseudo-random (incompressible) bytes. */
  layerSizes: number[];
  entrypoint?: string[];
  env?: string[];
  labels?: Record<string, string>;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface BuiltPlatform {
  platform: Platform;
  /** The platform's image manifest. */
  manifest: Descriptor;
  config: Descriptor;
  layers: Descriptor[];
  /** manifest + config + layers, in bytes: what a registry stores for this platform. */
  totalSize: number;
}

export interface BuiltIndex {
  layout: string;
  tag: string;
  index: Descriptor;
  platforms: BuiltPlatform[];
}

export const TWO_PLATFORMS: PlatformSpec[] = [
  { platform: { os: 'linux', architecture: 'amd64' }, layerSizes: [20_000], entrypoint: ['/bin/app'], env: ['APP_MODE=production'], labels: { 'org.opencontainers.image.title': 'app' } },
  { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, layerSizes: [30_000, 50_000], entrypoint: ['/bin/app'], env: ['APP_MODE=production'], labels: { 'org.opencontainers.image.title': 'app' } },
];

async function must(file: string, args: string[]): Promise<string> {
  const r = await exec(file, args);
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} failed (exit ${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** `size` bytes from a sha256 counter stream: looks random (gzip cannot shrink it), repeats for the same seed. */
export function seededBytes(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let off = 0, i = 0; off < size; i++) off += createHash('sha256').update(`${seed}:${i}`).digest().copy(out, off);
  return out;
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const blobPath = (layout: string, digest: string) => join(layout, 'blobs', ...digest.split(':'));

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

interface LayoutIndex {
  schemaVersion: 2;
  manifests: (Descriptor & { annotations?: Record<string, string>; platform?: Platform })[];
}

async function descriptorOf(layout: string, ref: string): Promise<Descriptor> {
  const index = await readJson<LayoutIndex>(join(layout, 'index.json'));
  const found = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === ref);
  if (!found) throw new Error(`no ${ref} in ${layout}/index.json`);
  return { mediaType: found.mediaType, digest: found.digest, size: found.size };
}

/** One single-platform image `layout:ref`, its config's os/architecture set and its layers added with umoci. */
async function buildPlatformImage(workDir: string, layout: string, ref: string, spec: PlatformSpec): Promise<BuiltPlatform> {
  const image = `${layout}:${ref}`;
  await must('umoci', ['new', '--image', image]);
  const fixed = new Date(CREATED);
  for (const [i, size] of spec.layerSizes.entries()) {
    const bundle = join(workDir, `bundle-${ref}-${i}`);
    await must('umoci', ['unpack', '--rootless', '--image', image, bundle]);
    const dir = join(bundle, 'rootfs', 'data');
    await mkdir(dir, { recursive: true });
    const file = join(dir, `${ref}-layer-${i}.bin`);
    await writeFile(file, seededBytes(`${ref}:${i}`, size));
    // umoci's tar carries mtimes: fixed ones make the layer digest repeat.
    for (const p of [file, dir, join(bundle, 'rootfs')]) await utimes(p, fixed, fixed);
    await must('umoci', ['repack', '--history.created', CREATED, '--history.created_by', `COPY ${ref}-layer-${i}.bin /data/`, '--image', image, bundle]);
  }
  const configArgs = ['--os', spec.platform.os, '--architecture', spec.platform.architecture, '--created', CREATED, '--history.created', CREATED];
  for (const e of spec.entrypoint ?? []) configArgs.push('--config.entrypoint', e);
  for (const e of spec.env ?? []) configArgs.push('--config.env', e);
  for (const [k, v] of Object.entries(spec.labels ?? {})) configArgs.push('--config.label', `${k}=${v}`);
  await must('umoci', ['config', ...configArgs, '--image', image]);

  const manifest = await descriptorOf(layout, ref);
  const body = await readJson<{ config: Descriptor; layers: Descriptor[] }>(blobPath(layout, manifest.digest));
  const layers = body.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size }));
  const config = { mediaType: body.config.mediaType, digest: body.config.digest, size: body.config.size };
  return { platform: spec.platform, manifest, config, layers, totalSize: manifest.size + config.size + layers.reduce((s, l) => s + l.size, 0) };
}

/**
 * An OCI layout whose index.json names one image index `tag`, with one image
 * manifest per spec (two platforms by default, different layers each).
 * Push it with pushAll; the per-platform sizes are what a registry stores.
 */
export async function buildMultiPlatformIndex(workDir: string, tag: string, specs: PlatformSpec[] = TWO_PLATFORMS): Promise<BuiltIndex> {
  const layout = join(workDir, `index-${tag}`);
  await must('umoci', ['init', '--layout', layout]);
  const platforms: BuiltPlatform[] = [];
  for (const spec of specs) {
    const ref = [spec.platform.os, spec.platform.architecture, spec.platform.variant].filter(Boolean).join('-');
    platforms.push(await buildPlatformImage(workDir, layout, ref, spec));
  }
  const indexBody = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: INDEX,
    manifests: platforms.map((p) => ({ mediaType: MANIFEST, digest: p.manifest.digest, size: p.manifest.size, platform: p.platform })),
  }));
  const index: Descriptor = { mediaType: INDEX, digest: sha256(indexBody), size: indexBody.length };
  await writeFile(blobPath(layout, index.digest), indexBody);
  // The layout names only the index: `oci:LAYOUT:TAG` resolves to it, and
  // skopeo's --all copies it with every platform it lists.
  const layoutIndex: LayoutIndex = { schemaVersion: 2, manifests: [{ ...index, annotations: { 'org.opencontainers.image.ref.name': tag } }] };
  await writeFile(join(layout, 'index.json'), JSON.stringify(layoutIndex));
  return { layout, tag, index, platforms };
}

/** A layout holding one single-platform image `ref` (fixed dates, seeded layers: the same digest every run). */
export async function buildSingleImage(workDir: string, ref: string, spec: PlatformSpec): Promise<BuiltIndex['platforms'][number] & { layout: string }> {
  const layout = join(workDir, `image-${ref}`);
  await must('umoci', ['init', '--layout', layout]);
  return { layout, ...(await buildPlatformImage(workDir, layout, ref, spec)) };
}

export interface PushOptions {
  /** skopeo's signature policy (oci.ts's skopeoPolicy). */
  policy: string;
  /** user:password for the destination. */
  creds?: string;
  /** A directory with the CA as ca.crt (skopeo --dest-cert-dir); none: plain HTTP. */
  certDir?: string;
  /** HOME for skopeo: keeps it off the caller's auth files. */
  home: string;
}

/** `skopeo copy --all oci:LAYOUT:REF docker://DEST`: every platform of an index, as pushed from a layout. */
export async function pushAll(layout: string, ref: string, dest: string, opts: PushOptions): Promise<void> {
  const args = ['--policy', opts.policy, 'copy', '--all', '--preserve-digests'];
  args.push(...(opts.certDir ? ['--dest-cert-dir', opts.certDir] : ['--dest-tls-verify=false']));
  if (opts.creds) args.push('--dest-creds', opts.creds);
  args.push(`oci:${layout}:${ref}`, `docker://${dest}`);
  const r = await exec('skopeo', args, { env: { ...process.env, HOME: opts.home } });
  if (r.code !== 0) throw new Error(`skopeo ${args.join(' ')} failed (exit ${r.code}): ${r.stderr}`);
}

/**
 * What a registry stores for `name:ref`, read from its own API (plain HTTP):
 * for an index, each platform's manifest + config + layers. The test compares
 * the UI's figures with these, not with what was built.
 */
export async function registrySizes(registryUrl: string, name: string, ref: string): Promise<{ digest: string; mediaType: string; platforms: { platform: Platform; digest: string; size: number }[] }> {
  const accept = [INDEX, MANIFEST, 'application/vnd.docker.distribution.manifest.list.v2+json', 'application/vnd.docker.distribution.manifest.v2+json'].join(', ');
  const get = async (r: string) => {
    const res = await fetch(`${registryUrl}/v2/${name}/manifests/${r}`, { headers: { accept } });
    if (res.status !== 200) throw new Error(`GET ${registryUrl}/v2/${name}/manifests/${r}: ${res.status} ${await res.text()}`);
    const bytes = Buffer.from(await res.arrayBuffer());
    return { bytes, json: JSON.parse(bytes.toString()) as { mediaType?: string; manifests?: (Descriptor & { platform: Platform })[]; config: Descriptor; layers: Descriptor[] }, digest: res.headers.get('docker-content-digest')! };
  };
  const top = await get(ref);
  const platforms = [];
  for (const m of top.json.manifests ?? []) {
    const image = await get(m.digest);
    platforms.push({ platform: m.platform, digest: m.digest, size: image.bytes.length + image.json.config.size + image.json.layers.reduce((s, l) => s + l.size, 0) });
  }
  return { digest: top.digest, mediaType: top.json.mediaType ?? '', platforms };
}
