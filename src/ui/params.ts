// The API's query parameters, checked with the registry's own grammar
// (registry/routes.ts): a name or reference the client sent reaches the
// upstream only once it is one, and the upstream path is built from it.
// Every refusal names the parameter and what it must be.
import { DIGEST_PATTERN, MAX_NAME_LENGTH, REPOSITORY_NAME, TAG_PATTERN } from '../registry/routes.js';
import { UiError } from './reply.js';

const TAG = new RegExp(`^${TAG_PATTERN}$`);
export const DIGEST = new RegExp(`^${DIGEST_PATTERN}$`);

/** Only these parameters, each at most once. */
/** Only `allowed` keys, each once unless it is in `repeatable`. */
export function checkParams(query: URLSearchParams, allowed: readonly string[], repeatable: readonly string[] = []): void {
  const seen = new Set<string>();
  for (const key of query.keys()) {
    if (!allowed.includes(key)) {
      throw new UiError(400, 'BAD_PARAMETER', `unknown parameter '${key}': this takes ${allowed.length ? allowed.join(', ') : 'none'}`);
    }
    if (seen.has(key) && !repeatable.includes(key)) throw new UiError(400, 'BAD_PARAMETER', `parameter '${key}' given twice`);
    seen.add(key);
  }
}

export function isRepositoryName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && REPOSITORY_NAME.test(name);
}

export function repositoryName(query: URLSearchParams, key = 'name'): string {
  const name = query.get(key);
  if (name === null || name === '') throw new UiError(400, 'NAME_INVALID', `'${key}' is required: a repository name such as library/alpine`);
  if (!isRepositoryName(name)) {
    throw new UiError(400, 'NAME_INVALID', `'${key}' is not a repository name: lower-case letters, digits and . _ - separators, ` +
      `components joined by /, at most ${MAX_NAME_LENGTH} characters`);
  }
  return name;
}

export const isTag = (ref: string): boolean => TAG.test(ref);
export const isDigest = (ref: string): boolean => DIGEST.test(ref);

/** A tag or a digest. */
export function reference(query: URLSearchParams, key = 'ref'): string {
  const ref = query.get(key);
  if (ref === null || ref === '') throw new UiError(400, 'REFERENCE_INVALID', `'${key}' is required: a tag (latest) or a digest (sha256:...)`);
  if (!isTag(ref) && !isDigest(ref)) {
    throw new UiError(400, 'REFERENCE_INVALID', `'${key}' is neither a tag (up to 128 of A-Z a-z 0-9 _ . -, not starting with . or -) nor a digest (sha256:<hex>)`);
  }
  return ref;
}

export function digest(query: URLSearchParams, key = 'digest'): string {
  const d = query.get(key);
  if (d === null || d === '') throw new UiError(400, 'DIGEST_INVALID', `'${key}' is required: the manifest's digest (sha256:...)`);
  if (!isDigest(d)) throw new UiError(400, 'DIGEST_INVALID', `'${key}' is not a digest: expected algorithm:hex, such as sha256:<64 hex digits>`);
  return d;
}

/** `n`: a page size from 1 to max. */
export function pageSize(query: URLSearchParams, fallback: number, max: number): number {
  const text = query.get('n');
  if (text === null) return fallback;
  if (!/^[0-9]{1,7}$/.test(text) || Number(text) < 1 || Number(text) > max) {
    throw new UiError(400, 'PAGINATION_INVALID', `'n' must be a whole number from 1 to ${max}, not '${text}'`);
  }
  return Number(text);
}

/** `last`: the cursor, an entry of the list (checked by `valid`), or undefined. */
export function cursor(query: URLSearchParams, valid: (v: string) => boolean, what: string): string | undefined {
  const last = query.get('last');
  if (last === null || last === '') return undefined;
  if (!valid(last)) throw new UiError(400, 'PAGINATION_INVALID', `'last' must be a ${what} (the 'next' of the page before), not '${last.slice(0, 64)}'`);
  return last;
}

/** One page of a sorted list after `last`, and the cursor of the next (null on the last page). */
export function page<T extends string>(sorted: readonly T[], last: string | undefined, n: number): { items: T[]; next: string | null } {
  let start = 0;
  if (last !== undefined) {
    start = sorted.findIndex((x) => x > last);
    if (start === -1) start = sorted.length;
  }
  const items = sorted.slice(start, start + n);
  return { items, next: start + n < sorted.length && items.length > 0 ? items[items.length - 1]! : null };
}

/**
 * One page of a list in any order after `last` (found by position), and the
 * next cursor. A `last` no longer in the list resumes after where it would
 * sort (`compare`), or, without one, at the start.
 */
export function pageAfter<T extends string>(
  sorted: readonly T[], last: string | undefined, n: number, compare?: (a: string, b: string) => number,
): { items: T[]; next: string | null } {
  let start = 0;
  if (last !== undefined) {
    const at = sorted.indexOf(last as T);
    if (at !== -1) start = at + 1;
    else if (compare) {
      start = sorted.findIndex((x) => compare(x, last) > 0);
      if (start === -1) start = sorted.length;
    }
  }
  const items = sorted.slice(start, start + n);
  return { items, next: start + n < sorted.length && items.length > 0 ? items[items.length - 1]! : null };
}
