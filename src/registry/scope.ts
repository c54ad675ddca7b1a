// Token scopes: `type[(class)]:name:action[,action]` (distribution's
// scope.md). The name may hold a ':' (a registry host's port), so the type
// ends at the first ':' and the actions begin after the last one.
import type { Access, Action } from './access.js';
import { MAX_NAME_LENGTH, REPOSITORY_NAME } from './routes.js';

const ACTIONS = new Set(['pull', 'push', 'delete', '*']);

/** One scope string; undefined when it is not one we can grant (unknown type, bad name). */
export function parseScope(text: string): Access | undefined {
  const first = text.indexOf(':');
  const last = text.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  const type = text.slice(0, first).replace(/\([^)]*\)$/, ''); // the class is deprecated and ignored
  const name = text.slice(first + 1, last);
  const actions = text.slice(last + 1).split(',').filter(Boolean);
  if (actions.length === 0 || actions.some((a) => !ACTIONS.has(a))) return undefined;
  if (type === 'registry') return name === 'catalog' ? { type: 'registry', name, actions: ['*'] } : undefined;
  if (type !== 'repository' || name.length > MAX_NAME_LENGTH || !REPOSITORY_NAME.test(name)) return undefined;
  return { type: 'repository', name, actions: actions.includes('*') ? ['*'] : [...new Set(actions)] as Action[] };
}

export const formatScope = (a: Access): string => `${a.type}:${a.name}:${a.actions.join(',')}`;

/** A token's access claim entry. */
export interface Claim {
  type: string;
  name: string;
  actions: string[];
}

/** Whether a token's claims cover one required access (an action '*' in the token covers any). */
export function claimsCover(claims: readonly Claim[], need: Access): boolean {
  return need.actions.every((action) =>
    claims.some((c) => c.type === need.type && c.name === need.name && (c.actions.includes('*') || c.actions.includes(action))));
}
