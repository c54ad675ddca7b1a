// The web UI's files (src/ui/static.ts): every path resolved inside the
// build directory (traversal, encoded or not, and links out refused), pages
// of the app answered with index.html, missing assets 404, and the headers:
// the CSP and friends on everything, immutable only for hashed assets; 503
// until the UI is built.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveStatic, serveStatic, NOT_BUILT, WEB_ROOT } from '../../src/ui/static.js';
import { CSP } from '../../src/ui/reply.js';
import { ROOT } from '../helpers/exec.js';
import { tempDir } from '../helpers/tmp.js';

const work = await tempDir('gw-ui-static-');
const root = join(work, 'web');
await mkdir(join(root, 'assets'), { recursive: true });
await mkdir(join(root, '.vite'), { recursive: true });
await writeFile(join(root, 'index.html'), '<!doctype html><title>ui</title>');
await writeFile(join(root, 'assets', 'index-AbC123.js'), 'console.log(1)');
await writeFile(join(root, 'assets', 'index-AbC123.css'), 'body{}');
await writeFile(join(root, 'favicon.svg'), '<svg/>');
await writeFile(join(root, '.vite', 'manifest.json'), '{}');
await writeFile(join(work, 'secret.txt'), 'outside');
await symlink(join(work, 'secret.txt'), join(root, 'assets', 'link.js'));
const empty = join(work, 'empty');
await mkdir(empty);

const servers: http.Server[] = [];
after(() => servers.forEach((s) => s.close()));
async function serve(dir: string) {
  const server = http.createServer((req, res) => void serveStatic(req, res, (req.url ?? '/').split('?')[0]!, dir));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return (path: string, method = 'GET') => new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = http.request({ port, path, method }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('dist/web is found from the package root, under tsx as when built', () => {
  assert.equal(WEB_ROOT, join(ROOT, 'dist', 'web') + '/');
});

test('resolution: files, app pages to index.html, missing assets, dot files, traversal', async () => {
  const file = (f: string, immutable: boolean) => ({ kind: 'file', file: join(root, f), immutable });
  assert.deepEqual(await resolveStatic(root, '/ui'), { kind: 'index' });
  assert.deepEqual(await resolveStatic(root, '/ui/'), { kind: 'index' });
  assert.deepEqual(await resolveStatic(root, '/ui/index.html'), { kind: 'index' });
  assert.deepEqual(await resolveStatic(root, '/ui/repo'), { kind: 'index' }, 'a page of the app');
  assert.deepEqual(await resolveStatic(root, '/ui/manifest'), { kind: 'index' });
  assert.deepEqual(await resolveStatic(root, '/ui/assets/index-AbC123.js'), file('assets/index-AbC123.js', true));
  assert.deepEqual(await resolveStatic(root, '/ui/favicon.svg'), file('favicon.svg', false), 'not hashed: not immutable');
  assert.deepEqual(await resolveStatic(root, '/ui/assets/gone-123.js'), { kind: 'not-found' });
  assert.deepEqual(await resolveStatic(root, '/ui/assets/'), { kind: 'not-found' }, 'a directory is no file');
  assert.deepEqual(await resolveStatic(root, '/ui/robots.txt'), { kind: 'not-found' }, 'a file name that is not there is no page');
  assert.deepEqual(await resolveStatic(root, '/ui/.vite/manifest.json'), { kind: 'not-found' }, 'the build\'s dot files');
  for (const bad of ['/ui/../secret.txt', '/ui/%2e%2e/secret.txt', '/ui/assets/%2E%2E%2F..%2Fsecret.txt', '/ui/..%2fsecret.txt',
    '/ui/%2e%2e%2f%2e%2e%2fetc%2fpasswd', '/ui/a%00.js', '/ui/%E0%A4%A', '/ui/..\\secret.txt', '/ui/assets/link.js']) {
    assert.deepEqual(await resolveStatic(root, bad), { kind: 'refused' }, bad);
  }
  assert.deepEqual(await resolveStatic(root, '/uix'), { kind: 'refused' });
  assert.deepEqual(await resolveStatic(root, '/ui/assets/../index.html'), { kind: 'index' }, 'inside after resolving: fine');
});

test('served: types, caching, security headers on every answer, GET and HEAD only', async () => {
  const get = await serve(root);
  const index = await get('/ui/repo?name=x');
  assert.equal(index.status, 200);
  assert.equal(index.body, '<!doctype html><title>ui</title>');
  assert.equal(index.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(index.headers['cache-control'], 'no-store');
  const js = await get('/ui/assets/index-AbC123.js');
  assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal((await get('/ui/assets/index-AbC123.css')).headers['content-type'], 'text/css; charset=utf-8');
  assert.equal((await get('/ui/favicon.svg')).headers['cache-control'], 'no-cache');
  const head = await get('/ui/assets/index-AbC123.js', 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  assert.equal(head.headers['content-length'], String('console.log(1)'.length));
  const answers = [index, js, head, await get('/ui/../secret.txt'), await get('/ui/assets/nope.js'), await get('/ui/', 'POST')];
  for (const r of answers) {
    assert.equal(r.headers['content-security-policy'], CSP);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.headers['referrer-policy'], 'no-referrer');
  }
  assert.equal(answers[3]!.status, 400);
  assert.ok(!answers[3]!.body.includes('outside'));
  assert.equal(answers[4]!.status, 404);
  assert.equal(answers[5]!.status, 405);
  assert.equal(answers[5]!.headers.allow, 'GET, HEAD');
  assert.equal((await get('/ui/assets/link.js')).status, 400, 'a link out of the build');
});

test('not built: a clear 503 for the pages, 404 for assets', async () => {
  const get = await serve(empty);
  const r = await get('/ui/');
  assert.equal(r.status, 503);
  assert.equal(r.body, NOT_BUILT);
  assert.equal(r.body, 'the web UI is not built: run npm run build\n');
  assert.equal(r.headers['content-security-policy'], CSP);
  assert.equal((await get('/ui/assets/x.js')).status, 404);
});
