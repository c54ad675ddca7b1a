// Access rules: who may do what to which repository. First matching rule wins;
// no match means denied. With no rules at all, every authenticated account may
// do everything and anonymous nothing (distribution's htpasswd behaviour).
import type { AccessRule } from '../config/config.js';
import { ALL_ACTIONS, ANONYMOUS, type Access } from '../registry/access.js';


export type Policy = (account: string, access: Access) => boolean;

function escapeRegex(s: string): string {
  return s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}

const globPart = (glob: string) => glob.split('**').map((p) => p.split('*').map(escapeRegex).join('[^/]*')).join('.*');

/**
 * Glob to regex: "*" stays within one path segment, "**" crosses segments.
 * ${account} becomes the account name, literally (a name is never a pattern).
 */
export function globToRegex(glob: string, account = ''): RegExp {
  return new RegExp(`^${glob.split('${account}').map(globPart).join(escapeRegex(account))}$`);
}

function accountMatches(pattern: string, account: string): boolean {
  if (pattern === '*') return account !== ANONYMOUS;
  return pattern === account;
}

function ruleActions(rule: AccessRule): Set<string> {
  return new Set(rule.actions.includes('*') ? ALL_ACTIONS : rule.actions);
}

export function rulesPolicy(rules: readonly AccessRule[]): Policy {
  // Patterns without ${account} are compiled once; the others per request.
  const compiled = rules.map((rule) => ({
    rule, regex: rule.name.includes('${account}') ? undefined : globToRegex(rule.name), actions: ruleActions(rule),
  }));
  const actionsFor = (account: string, name: string): Set<string> => {
    for (const { rule, regex, actions } of compiled) {
      if (!accountMatches(rule.account, account)) continue;
      if (!regex && account === ANONYMOUS) continue;
      const re = regex ?? globToRegex(rule.name, account);
      if (re.test(name)) return actions;
    }
    return new Set();
  };
  return (account, access) => {
    if (access.type === 'registry') {
      // The catalog: open to any account some rule names; the answer is then
      // filtered to the repositories it may pull.
      return compiled.some(({ rule }) => accountMatches(rule.account, account));
    }
    const allowed = actionsFor(account, access.name);
    return access.actions.every((a) => (a === '*' ? ALL_ACTIONS.every((x) => allowed.has(x)) : allowed.has(a)));
  };
}

export const authenticatedPolicy: Policy = (account) => account !== ANONYMOUS;
export const openPolicy: Policy = () => true;

export function policyFor(rules: readonly AccessRule[] | undefined, mode: 'none' | 'htpasswd' | 'token'): Policy {
  if (rules) return rulesPolicy(rules);
  return mode === 'none' ? openPolicy : authenticatedPolicy;
}
