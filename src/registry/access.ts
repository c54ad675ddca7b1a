// What a request needs, in the registry's own terms: a resource (a
// repository, or the registry's catalog) and the actions on it, as a token
// scope names them. Routes produce it, policies and tokens judge it.
export type Action = 'pull' | 'push' | 'delete';
export const ALL_ACTIONS: readonly Action[] = ['pull', 'push', 'delete'];

/** One resource and the actions wanted on it, as in a token scope. */
export interface Access {
  type: 'repository' | 'registry';
  name: string;
  actions: Action[] | ['*'];
  /** Wanted but not required: a cross-repository mount source. */
  optional?: boolean;
}

export const ANONYMOUS = '';
