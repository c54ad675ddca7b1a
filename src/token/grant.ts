// What a token gets: the intersection of what was asked and what the access
// rules allow. Asking for more is not an error; the answer may be empty.
import { type Policy } from '../auth/policy.js';
import { ALL_ACTIONS, type Access, type Action } from '../registry/access.js';

export function grantFor(policy: Policy, account: string, requested: readonly Access[]): Access[] {
  const byName = new Map<string, Access>();
  for (const want of requested) {
    if (want.type === 'registry') {
      if (policy(account, want)) byName.set(`registry:${want.name}`, { type: 'registry', name: want.name, actions: ['*'] });
      continue;
    }
    const candidates: readonly Action[] = want.actions[0] === '*' ? ALL_ACTIONS : (want.actions as Action[]);
    const allowed = candidates.filter((action) => policy(account, { type: 'repository', name: want.name, actions: [action] }));
    const key = `repository:${want.name}`;
    const merged = new Set<Action>([...((byName.get(key)?.actions ?? []) as Action[]), ...allowed]);
    if (merged.size > 0) byName.set(key, { type: 'repository', name: want.name, actions: ALL_ACTIONS.filter((a) => merged.has(a)) });
  }
  return [...byName.values()];
}
