// A browser that opens https://HOST:PORT/ lands on the web UI. Only a GET or
// HEAD that asks for HTML is taken: registry clients, curl and probes get the
// registry's own answer for / as before.
import type { IncomingMessage } from 'node:http';
import type { Endpoint } from '../http/endpoint.js';

const wantsHtml = (req: IncomingMessage) =>
  (req.method === 'GET' || req.method === 'HEAD') && /(^|,)\s*text\/html\s*(;|,|$)/i.test(req.headers.accept ?? '');

export const rootRedirect: Endpoint = {
  paths: new Set(['/']),
  kind: 'ui',
  takes: wantsHtml,
  async handle(_req, res) {
    // Relative: the browser keeps the host and port it used.
    res.writeHead(302, { Location: '/ui/', 'Content-Length': 0, 'Cache-Control': 'no-store' });
    res.end();
  },
};
