// The web UI's files: dist/web, as the Vite build writes it (index.html and
// hashed assets/*). Every path is resolved inside that directory and checked
// to stay there (after decoding, and after symbolic links); a path that names
// no file is a page of the single-page app, answered with index.html; a
// missing asset is a 404, not a page. GET and HEAD only.
import { realpath, readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { send } from './reply.js';

/** dist/web from the package root: this module is src/ui under tsx and dist/ui when built. */
export const WEB_ROOT = fileURLToPath(new URL('../../dist/web/', import.meta.url));

export const NOT_BUILT = 'the web UI is not built: run npm run build\n';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

export type StaticTarget =
  | { kind: 'file'; file: string; immutable: boolean }
  | { kind: 'index' }
  | { kind: 'not-found' }
  /** Outside the directory, or not a path at all. */
  | { kind: 'refused' };

/** What a path under /ui names in `root`. */
export async function resolveStatic(root: string, path: string): Promise<StaticTarget> {
  if (path !== '/ui' && !path.startsWith('/ui/')) return { kind: 'refused' };
  let rel: string;
  try {
    rel = decodeURIComponent(path.slice('/ui'.length));
  } catch {
    return { kind: 'refused' };
  }
  if (rel === '' || rel === '/' || rel === '/index.html') return { kind: 'index' };
  if (rel.includes('\0') || rel.includes('\\')) return { kind: 'refused' };
  const base = resolve(root);
  const file = resolve(base, `.${rel}`);
  if (!file.startsWith(base + sep)) return { kind: 'refused' };
  if (file === resolve(base, 'index.html')) return { kind: 'index' };
  const segments = file.slice(base.length + 1).split(sep);
  // Dot files (.vite/manifest.json) are the build's, not the UI's.
  if (segments.some((s) => s.startsWith('.'))) return { kind: 'not-found' };
  const asset = segments[0] === 'assets';
  const found = await stat(file).catch(() => undefined);
  if (found?.isFile()) {
    // A link inside the build must not lead out of it.
    const real = await realpath(file).catch(() => undefined);
    const realBase = await realpath(base).catch(() => base);
    if (!real || !real.startsWith(realBase + sep)) return { kind: 'refused' };
    return { kind: 'file', file: real, immutable: asset };
  }
  // Under assets/ only files live: a missing one is an error, not a page.
  if (asset || extname(file) !== '') return { kind: 'not-found' };
  return { kind: 'index' };
}

/** Answers a /ui request that is not the API. */
export async function serveStatic(req: IncomingMessage, res: ServerResponse, path: string, root = WEB_ROOT): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(res, 405, 'text/plain; charset=utf-8', `the web UI's files are read with GET or HEAD, not ${req.method}\n`, { Allow: 'GET, HEAD' });
    return;
  }
  const target = await resolveStatic(root, path);
  if (target.kind === 'refused' || target.kind === 'not-found') {
    send(res, target.kind === 'refused' ? 400 : 404, 'text/plain; charset=utf-8',
      target.kind === 'refused' ? 'not a path inside the web UI\n' : 'no such file in the web UI\n');
    return;
  }
  const file = target.kind === 'index' ? resolve(root, 'index.html') : target.file;
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch {
    // index.html missing: the frontend was never built (tsc alone, say).
    send(res, target.kind === 'index' ? 503 : 404, 'text/plain; charset=utf-8', target.kind === 'index' ? NOT_BUILT : 'no such file in the web UI\n');
    return;
  }
  const immutable = target.kind === 'file' && target.immutable;
  const type = TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
  // Hashed names change with their content: kept a year. index.html names the current ones: never kept.
  send(res, 200, type, body, { 'Cache-Control': immutable ? 'public, max-age=31536000, immutable' : (target.kind === 'index' ? 'no-store' : 'no-cache') });
}
