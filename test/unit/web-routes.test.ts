// The UI's URLs: each page from its path and query, back to the same href,
// and the login's "next" kept to this UI's own pages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { href, isAppPath, parseRoute, safeNext, type Route } from '../../src/web/lib/routes.js';

test('each page from its URL', () => {
  assert.deepEqual(parseRoute('/ui', ''), { page: 'repositories', q: '' });
  assert.deepEqual(parseRoute('/ui/', '?q=team'), { page: 'repositories', q: 'team' });
  assert.deepEqual(parseRoute('/ui/index.html', ''), { page: 'repositories', q: '' });
  assert.deepEqual(parseRoute('/ui/repo', '?name=team/app'), { page: 'tags', name: 'team/app' });
  assert.deepEqual(parseRoute('/ui/repo/', '?name=a'), { page: 'tags', name: 'a' });
  assert.deepEqual(parseRoute('/ui/manifest', '?name=a/b&ref=sha256:abc'), { page: 'manifest', name: 'a/b', ref: 'sha256:abc' });
  assert.deepEqual(parseRoute('/ui/setup', ''), { page: 'setup' });
  assert.deepEqual(parseRoute('/ui/login', '?next=/ui/setup'), { page: 'login', next: '/ui/setup' });
});

test('a page without its parameters, or an unknown path, is "not found" (not a blank page)', () => {
  assert.deepEqual(parseRoute('/ui/repo', ''), { page: 'not-found', path: '/ui/repo' });
  assert.deepEqual(parseRoute('/ui/manifest', '?name=a'), { page: 'not-found', path: '/ui/manifest' });
  assert.deepEqual(parseRoute('/ui/nothing', ''), { page: 'not-found', path: '/ui/nothing' });
});

test('href is the inverse of parseRoute, slashes and colons kept readable', () => {
  const routes: Route[] = [
    { page: 'repositories', q: '' },
    { page: 'repositories', q: 'a b&c' },
    { page: 'tags', name: 'team/app' },
    { page: 'manifest', name: 'team/app', ref: 'v1.0' },
    { page: 'manifest', name: 'x', ref: `sha256:${'a'.repeat(64)}` },
    { page: 'setup' },
    { page: 'login', next: null },
    { page: 'login', next: '/ui/repo?name=a/b' },
  ];
  for (const route of routes) {
    const url = new URL(href(route), 'https://gw.test');
    assert.deepEqual(parseRoute(url.pathname, url.search), route, href(route));
  }
  assert.equal(href({ page: 'tags', name: 'team/app' }), '/ui/repo?name=team/app');
  assert.equal(href({ page: 'manifest', name: 'x', ref: 'sha256:ab' }), '/ui/manifest?name=x&ref=sha256:ab');
});

test('after login, only a page of this UI: no other site, no other path, no login loop', () => {
  assert.equal(safeNext('/ui/repo?name=a'), '/ui/repo?name=a');
  assert.equal(safeNext('https://evil.test/ui/'), null);
  assert.equal(safeNext('//evil.test/ui/'), null);
  assert.equal(safeNext('/ui/\\evil'), null);
  assert.equal(safeNext('/v2/_catalog'), null);
  assert.equal(safeNext('/ui/login?next=/ui/'), null);
  assert.equal(safeNext(null), null);
});

test('the API and the built assets are not pages the app routes', () => {
  assert.equal(isAppPath('/ui'), true);
  assert.equal(isAppPath('/ui/setup'), true);
  assert.equal(isAppPath('/ui/api/session'), false);
  assert.equal(isAppPath('/ui/assets/index.js'), false);
  assert.equal(isAppPath('/trust/bundle.tar.gz'), false);
});
