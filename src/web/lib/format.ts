// How sizes, dates, digests and platforms read on the page.
import type { Platform } from './types.js';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

/** Bytes as people read them: 1023 B, 1.5 KiB, 12 MiB (binary units, as registries and docker report). */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '—';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${bytes} B`;
  // Three significant digits at most: 1.23 MiB, 12.3 MiB, 123 MiB.
  const digits = value < 10 ? 2 : value < 100 ? 1 : 0;
  const fixed = value.toFixed(digits);
  // 1.50 -> 1.5, 2.00 -> 2; never 100 -> 1.
  const text = fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed;
  return `${text} ${UNITS[unit]}`;
}

/** An ISO time as a date and minute in UTC (the same on every viewer's clock), or '—'. */
export function formatDate(iso: string | null | undefined): string {
  if (!iso) return '—';
  const time = Date.parse(iso);
  if (Number.isNaN(time)) return '—';
  const d = new Date(time);
  // Images from reproducible builds say 1970-01-01: show it as it is.
  return d.toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
}

/** sha256:0123456789ab… as its algorithm and first 12 hex digits, like docker's short IDs. */
export function shortDigest(digest: string): string {
  const colon = digest.indexOf(':');
  if (colon < 0) return digest.slice(0, 12);
  return `${digest.slice(0, colon + 1)}${digest.slice(colon + 1, colon + 13)}`;
}

/** linux/arm64/v8, as docker's --platform spells it. */
export function platformLabel(p: Platform | null | undefined): string {
  const label = p ? [p.os, p.architecture, p.variant].filter((part) => part).join('/') : '';
  return label || 'unknown platform';
}

/** Attestation manifests in an index say unknown/unknown (buildx): not a platform anyone pulls. */
export function isAttestation(p: Platform | null | undefined): boolean {
  return p?.os === 'unknown' && p.architecture === 'unknown';
}

/** An index entry that is an attestation (provenance, SBOM): by its platform, or by buildx's annotation. */
export function isAttestationEntry(entry: { platform: Platform | null; annotations?: Record<string, string> }): boolean {
  return isAttestation(entry.platform) || entry.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest';
}

/** "1 tag", "2 tags". */
export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count.toLocaleString('en-US')} ${count === 1 ? one : many}`;
}

/** The short name of a media type: "OCI index", "Docker manifest", or the type itself. */
export function mediaTypeLabel(mediaType: string): string {
  switch (mediaType) {
    case 'application/vnd.oci.image.index.v1+json': return 'OCI index';
    case 'application/vnd.oci.image.manifest.v1+json': return 'OCI manifest';
    case 'application/vnd.docker.distribution.manifest.list.v2+json': return 'Docker manifest list';
    case 'application/vnd.docker.distribution.manifest.v2+json': return 'Docker manifest';
    case 'application/vnd.oci.image.layer.v1.tar+gzip':
    case 'application/vnd.docker.image.rootfs.diff.tar.gzip': return 'tar+gzip';
    case 'application/vnd.oci.image.layer.v1.tar+zstd': return 'tar+zstd';
    case 'application/vnd.oci.image.layer.v1.tar': return 'tar';
    default: return mediaType;
  }
}

/** Days left on a certificate as a sentence. */
export function daysLeftText(days: number): string {
  if (days < 0) return `expired ${plural(-days, 'day')} ago`;
  if (days === 0) return 'expires today';
  return `${plural(days, 'day')} left`;
}

/** The certificate's end as a phrase: "expires in 12 days", "expires today", "has expired". */
export function expiryText(days: number): string {
  if (days < 0) return 'has expired';
  if (days === 0) return 'expires today';
  return `expires in ${plural(days, 'day')}`;
}
