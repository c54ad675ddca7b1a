// Number-aware order of tags, the same on the server (the API's sort=version)
// and in the page (the manifest page's chips, the delete dialog): semver where
// both tags parse as semver (v1.2.0 before v1.10.0, 1.0.0-rc.1 before 1.0.0),
// else natural order (build-50 before build-500). Plain data in, plain data
// out, no Node APIs: Vite bundles it into the page as it is.
import parse from 'semver/functions/parse.js';
import compare from 'semver/functions/compare.js';
import type { SemVer } from 'semver';

// The platform's collator: digits compare as numbers, case is a tiebreak.
const natural = new Intl.Collator('en', { numeric: true, sensitivity: 'variant' });
const parsed = new Map<string, SemVer | null>();

function semverOf(tag: string): SemVer | null {
  let v = parsed.get(tag);
  if (v === undefined) {
    v = parse(tag);
    // Bounded: tags come from whoever pushes.
    if (parsed.size > 10_000) parsed.clear();
    parsed.set(tag, v);
  }
  return v;
}

/** Version order, a total order: semver tags first, by version; the others after them, naturally; code points last. */
export function compareVersions(a: string, b: string): number {
  const va = semverOf(a);
  const vb = semverOf(b);
  if (va && vb) {
    const c = compare(va, vb);
    if (c !== 0) return c;
  } else if (va || vb) {
    return va ? -1 : 1;
  }
  return natural.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);
}

/** A copy, in version order. */
export function byVersion<T extends string>(tags: readonly T[]): T[] {
  return [...tags].sort(compareVersions);
}
