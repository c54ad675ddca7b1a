// One JSON line per request, written when the response closes. Passwords and
// tokens never reach it: the path is logged without secret query values,
// and no header is ever logged.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { plainAddress } from '../util/address.js';
import type { Logger } from '../util/log.js';

/** What the steps learn about a request, for its log line. */
export interface Entry {
  user?: string;
  repository?: string;
  action?: string;
}

// Query keys whose values are safe to log; the upload `_state` is a signed
// secret, and anything unknown is treated like one.
const SAFE_QUERY = new Set(['digest', 'mount', 'from', 'n', 'last', 'service', 'scope', 'account', 'client_id', 'offline_token']);

export function loggablePath(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return url;
  const query = new URLSearchParams(url.slice(q + 1));
  const parts = [...query.keys()].map((k) => `${k}=${SAFE_QUERY.has(k) ? query.get(k) : 'REDACTED'}`);
  return `${url.slice(0, q)}?${parts.join('&')}`;
}

export function accessLog(req: IncomingMessage, res: ServerResponse, log: Logger): Entry {
  const entry: Entry = {};
  const started = performance.now();
  const socket = req.socket;
  const read0 = socket.bytesRead;
  const written0 = socket.bytesWritten;
  const path = loggablePath(req.url ?? '/');
  res.once('close', () => {
    log.info({
      client: plainAddress(socket.remoteAddress),
      user: entry.user ?? null,
      method: req.method,
      path,
      repository: entry.repository ?? null,
      action: entry.action ?? null,
      status: res.statusCode,
      completed: res.writableFinished,
      bytesIn: socket.bytesRead - read0,
      bytesOut: socket.bytesWritten - written0,
      durationMs: Math.round((performance.now() - started) * 10) / 10,
    }, 'request');
  });
  return entry;
}
