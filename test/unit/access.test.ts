import { test } from 'node:test';
import assert from 'node:assert/strict';
import { globToRegex, policyFor, rulesPolicy } from '../../src/auth/policy.js';
import { type Access } from '../../src/registry/access.js';
import type { AccessRule } from '../../src/config/config.js';

const repo = (name: string, ...actions: ('pull' | 'push' | 'delete')[]): Access => ({ type: 'repository', name, actions });
const catalog: Access = { type: 'registry', name: 'catalog', actions: ['*'] };

test('globs: * within one segment, ** across segments', () => {
  assert.ok(globToRegex('team/*').test('team/app'));
  assert.ok(!globToRegex('team/*').test('team/app/sub'));
  assert.ok(globToRegex('team/**').test('team/app/sub'));
  assert.ok(globToRegex('**').test('a/b/c'));
  assert.ok(!globToRegex('team/*').test('teamx/app'));
  assert.ok(!globToRegex('a.b').test('axb'), 'dots are literal');
  assert.ok(globToRegex('${account}/**', 'al.ice').test('al.ice/x'));
  assert.ok(!globToRegex('${account}/**', 'al.ice').test('alxice/x'), 'the account is literal, never a pattern');
});

const rules: AccessRule[] = [
  { account: 'admin', name: '**', actions: ['*'] },
  { account: '*', name: '${account}/**', actions: ['pull', 'push'] },
  { account: '*', name: 'readonly/**', actions: ['pull'] },
  { account: 'alice', name: 'team/*', actions: ['pull', 'push', 'delete'] },
  { account: '*', name: '**', actions: ['pull'] },
  { account: '', name: 'public/**', actions: ['pull'] },
];
const policy = rulesPolicy(rules);

test('first matching rule wins; its actions are all there is', () => {
  assert.ok(policy('admin', repo('any/thing', 'pull', 'push', 'delete')));
  assert.ok(policy('bob', repo('bob/app', 'pull', 'push')));
  assert.ok(!policy('bob', repo('bob/app', 'delete')));
  assert.ok(!policy('bob', repo('alice/app', 'push')));
  assert.ok(policy('bob', repo('alice/app', 'pull')));
  assert.ok(policy('alice', repo('team/app', 'delete')), 'rule 4 grants delete on team/*');
  assert.ok(!policy('bob', repo('team/app', 'delete')), 'bob falls through to the ** pull rule');
});

test('rule order matters: the ** pull rule shadows later rules', () => {
  // alice/team/* is rule 4, but for team/app rule 2 does not match (not alice/...), rule 3 does not match, rule 4 matches.
  assert.ok(policy('alice', repo('team/app', 'push')));
  assert.ok(!policy('alice', repo('team/app/sub', 'push')), 'team/* does not cross segments; ** pull matches instead');
});

test('anonymous matches only "" rules; "*" means any authenticated account', () => {
  assert.ok(policy('', repo('public/app', 'pull')));
  assert.ok(!policy('', repo('public/app', 'push')));
  assert.ok(!policy('', repo('bob/app', 'pull')));
  assert.ok(policy('bob', repo('public/app', 'pull')), 'bob gets pull from the ** rule');
});

test('the catalog is open to accounts some rule names', () => {
  assert.ok(policy('bob', catalog));
  assert.ok(policy('', catalog));
  assert.ok(!rulesPolicy([{ account: 'admin', name: '**', actions: ['*'] }])('bob', catalog));
});

test('no rules: authenticated may do everything, anonymous nothing (auth none: everyone)', () => {
  const p = policyFor(undefined, 'htpasswd');
  assert.ok(p('bob', repo('x', 'pull', 'push', 'delete')));
  assert.ok(!p('', repo('x', 'pull')));
  assert.ok(policyFor(undefined, 'none')('', repo('x', 'push')));
});
