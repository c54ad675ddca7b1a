// What the web UI may show and do, decided exactly as for docker: the same
// Policy the request path uses (auth/policy.ts), for the same access a
// registry request would need (registry/routes.ts's mapping: GET is pull,
// DELETE is delete, the catalog is registry:catalog:*).
import type { Policy } from '../auth/policy.js';
import { ANONYMOUS, type Access } from '../registry/access.js';
import { UiError } from './reply.js';

export interface Viewer {
  /** The session's user, or ANONYMOUS ('') without one. */
  account: string;
  /** Whether logging in could change the answer (auth.mode none has no accounts). */
  canLogin: boolean;
}

export const CATALOG: Access = { type: 'registry', name: 'catalog', actions: ['*'] };
export const pull = (name: string): Access => ({ type: 'repository', name, actions: ['pull'] });
export const remove = (name: string): Access => ({ type: 'repository', name, actions: ['delete'] });

/** Throws what the registry would answer: 401 (log in) to anonymous where an account could do it, else 403. */
export function authorize(policy: Policy, viewer: Viewer, access: Access, what: string): void {
  if (policy(viewer.account, access)) return;
  if (viewer.account === ANONYMOUS && viewer.canLogin) throw new UiError(401, 'UNAUTHORIZED', `log in to ${what}`);
  const who = viewer.account === ANONYMOUS ? 'anonymous users' : `'${viewer.account}'`;
  throw new UiError(403, 'DENIED', `the access rules do not let ${who} ${what}`);
}
