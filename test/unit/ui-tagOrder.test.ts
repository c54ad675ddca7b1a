// Version order (ui/tagOrder.ts) and pages of a list in any order (params.ts pageAfter).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { byVersion, compareVersions } from '../../src/ui/tagOrder.js';
import { pageAfter } from '../../src/ui/params.js';

test('version order: semver by version (prereleases first), then the rest naturally', () => {
  assert.deepEqual(byVersion(['v1.10.0', 'v1.2.0', 'v1.1.0', 'v1.19.0']), ['v1.1.0', 'v1.2.0', 'v1.10.0', 'v1.19.0']);
  assert.deepEqual(byVersion(['1.0.0', '1.0.0-rc.10', '1.0.0-rc.2', '0.9.9']), ['0.9.9', '1.0.0-rc.2', '1.0.0-rc.10', '1.0.0']);
  assert.deepEqual(byVersion(['latest', 'build-500', 'v2.0.0', 'build-50', 'build-051', '1.2', '1.10']),
    ['v2.0.0', '1.2', '1.10', 'build-50', 'build-051', 'build-500', 'latest']);
  // v1.0.0 and 1.0.0 are the same version: still a total order (code points decide).
  assert.deepEqual(byVersion(['v1.0.0', '1.0.0']), ['1.0.0', 'v1.0.0']);
});

test('version order is a total order on any tags (antisymmetric, transitive, zero only for equal tags)', () => {
  const tag = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/);
  fc.assert(fc.property(tag, tag, tag, (a, b, c) => {
    assert.equal(Math.sign(compareVersions(a, b)), -Math.sign(compareVersions(b, a)) || 0);
    assert.equal(compareVersions(a, b) === 0, a === b);
    if (compareVersions(a, b) < 0 && compareVersions(b, c) < 0) assert.ok(compareVersions(a, c) < 0);
  }), { numRuns: 2000 });
});

test('pageAfter: pages by position, a lost cursor resumes where it would sort, or at the start', () => {
  const sorted = byVersion(['v1.0.0', 'v1.1.0', 'v1.2.0', 'v1.10.0', 'v1.11.0']);
  assert.deepEqual(pageAfter(sorted, undefined, 2), { items: ['v1.0.0', 'v1.1.0'], next: 'v1.1.0' });
  assert.deepEqual(pageAfter(sorted, 'v1.1.0', 2), { items: ['v1.2.0', 'v1.10.0'], next: 'v1.10.0' });
  assert.deepEqual(pageAfter(sorted, 'v1.10.0', 2), { items: ['v1.11.0'], next: null });
  assert.deepEqual(pageAfter(sorted, 'v1.3.0', 2, compareVersions), { items: ['v1.10.0', 'v1.11.0'], next: null }, 'deleted meanwhile');
  assert.deepEqual(pageAfter(sorted, 'v1.3.0', 2), { items: ['v1.0.0', 'v1.1.0'], next: 'v1.1.0' }, 'no order to resume by');
});
