// Orders of the tags a page has loaded: by name as the registry lists them,
// or newest first by the image's creation time.
import type { TagSummary } from './types.js';

export type TagOrder = 'name' | 'created';

/** A copy of tags in that order; tags without a creation time go last, by name. */
export function sortTags(tags: readonly TagSummary[], order: TagOrder): TagSummary[] {
  const byName = (a: TagSummary, b: TagSummary) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  if (order === 'name') return [...tags].sort(byName);
  const time = (t: TagSummary) => {
    const ms = t.created ? Date.parse(t.created) : NaN;
    return Number.isNaN(ms) ? -Infinity : ms;
  };
  return [...tags].sort((a, b) => time(b) - time(a) || byName(a, b));
}
