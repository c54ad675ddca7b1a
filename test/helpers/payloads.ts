// The reviewer's payloads of issue 21, pushed straight to a registry over
// its HTTP API: one config blob of about 4 MB (nearly all one created_by),
// image manifests that all name it, and OCI indexes over them.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';

export const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export async function putBlob(registry: string, name: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  const start = await fetch(`${registry}/v2/${name}/blobs/uploads/`, { method: 'POST' });
  await start.arrayBuffer();
  assert.equal(start.status, 202);
  const location = new URL(start.headers.get('location')!, registry);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', body: new Uint8Array(bytes), headers: { 'content-type': 'application/octet-stream' } });
  await put.arrayBuffer();
  assert.equal(put.status, 201);
  return digest;
}

export async function putManifest(registry: string, name: string, ref: string, type: string, value: unknown): Promise<{ digest: string; size: number }> {
  const bytes = Buffer.from(JSON.stringify(value));
  const put = await fetch(`${registry}/v2/${name}/manifests/${ref}`, { method: 'PUT', body: new Uint8Array(bytes), headers: { 'content-type': type } });
  await put.arrayBuffer();
  assert.equal(put.status, 201, `manifest ${name}:${ref}`);
  return { digest: sha256(bytes), size: bytes.length };
}

export interface BigIndexes {
  configDigest: string;
  children: { mediaType: string; digest: string; size: number; platform: Record<string, string> }[];
}

/** `children` image manifests over one ~4 MB config in `name`, and an index `idx<N>` over the first N for each of `indexes`. */
export async function pushBigIndexes(registry: string, name: string, children = 150, indexes = [100, 150]): Promise<BigIndexes> {
  const layer = Buffer.from('a tiny layer');
  const layerDigest = await putBlob(registry, name, layer);
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/bin'] },
    rootfs: { type: 'layers', diff_ids: [layerDigest] },
    history: [{ created: '2026-01-01T00:00:00Z', created_by: `/bin/sh -c ${'x'.repeat(3_999_000)}` }],
  }));
  const configDigest = await putBlob(registry, name, config);
  const list: BigIndexes['children'] = [];
  for (let i = 0; i < children; i++) {
    const m = await putManifest(registry, name, `child-${i}`, OCI_MANIFEST, {
      schemaVersion: 2, mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
      annotations: { n: String(i) },
    });
    list.push({ mediaType: OCI_MANIFEST, ...m, platform: { os: 'linux', architecture: 'amd64', variant: `v${i}` } });
  }
  for (const n of indexes) await putManifest(registry, name, `idx${n}`, OCI_INDEX, { schemaVersion: 2, mediaType: OCI_INDEX, manifests: list.slice(0, n) });
  return { configDigest, children: list };
}
