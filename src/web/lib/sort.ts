// Orders of tags in the page: by name as the registry lists them, by version
// (number-aware, ui/tagOrder.ts: the server's sort=version is the same), or
// newest first by the image's creation time. The tag list asks the server
// for its order across every tag; these order what a page holds itself
// (the tags on a digest, a list put back by Back).
import { compareVersions } from '../../ui/tagOrder.js';
import type { TagOrder, TagSummary } from './types.js';

export type { TagOrder };
export { byVersion, compareVersions } from '../../ui/tagOrder.js';

/** A copy of tags in that order; tags without a creation time go last, by version. */
export function sortTags(tags: readonly TagSummary[], order: TagOrder): TagSummary[] {
  if (order === 'name') return [...tags].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const byVersion = (a: TagSummary, b: TagSummary) => compareVersions(a.name, b.name);
  if (order === 'version') return [...tags].sort(byVersion);
  const time = (t: TagSummary) => {
    const ms = t.created ? Date.parse(t.created) : NaN;
    return Number.isNaN(ms) ? -Infinity : ms;
  };
  return [...tags].sort((a, b) => time(b) - time(a) || byVersion(a, b));
}
