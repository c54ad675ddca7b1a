// One JSON line per request, written when the response closes, and the
// request's metrics, recorded then too (every response closes here, whichever
// step answered it). Passwords and tokens never reach the line: the path is
// logged without secret query values, and no header is ever logged.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { clientAddressOf } from '../util/clientAddress.js';
import type { Logger } from '../util/log.js';
import { metrics, type RequestAction } from '../metrics/metrics.js';

/** What the steps learn about a request, for its log line. */
export interface Entry {
  user?: string;
  repository?: string;
  action?: string;
  /** What the request is, for the metrics' `action` label (not logged): set by the steps. */
  kind?: RequestAction;
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

// Per connection, the byte counts when its last response closed: the
// metrics give each request everything read and written since, headers
// included (bytesIn in the log starts after the headers were read).
const counted = new WeakMap<Socket, { read: number; written: number }>();

function transferred(socket: Socket): { received: number; sent: number } {
  const last = counted.get(socket) ?? { read: 0, written: 0 };
  const now = { read: socket.bytesRead, written: socket.bytesWritten };
  counted.set(socket, now);
  return { received: Math.max(0, now.read - last.read), sent: Math.max(0, now.written - last.written) };
}

export function accessLog(req: IncomingMessage, res: ServerResponse, log: Logger): Entry {
  const entry: Entry = {};
  const started = performance.now();
  const socket = req.socket;
  const read0 = socket.bytesRead;
  const written0 = socket.bytesWritten;
  const path = loggablePath(req.url ?? '/');
  const ended = metrics.started();
  res.once('close', () => {
    ended();
    const seconds = (performance.now() - started) / 1000;
    const bytesIn = socket.bytesRead - read0;
    const bytesOut = socket.bytesWritten - written0;
    metrics.request({ method: req.method, action: entry.kind ?? 'other', status: res.statusCode, seconds, ...transferred(socket) });
    log.info({
      client: clientAddressOf(socket),
      user: entry.user ?? null,
      method: req.method,
      path,
      repository: entry.repository ?? null,
      action: entry.action ?? null,
      status: res.statusCode,
      completed: res.writableFinished,
      bytesIn,
      bytesOut,
      durationMs: Math.round(seconds * 10_000) / 10,
    }, 'request');
  });
  return entry;
}
