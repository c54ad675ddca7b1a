// One JSON line per request, written when the response closes, and the
// request's metrics, recorded then too (every response closes here, whichever
// step answered it). Passwords and tokens never reach the line: the path is
// logged without secret query values, and no header is ever logged.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { clientAddressOf } from '../util/clientAddress.js';
import type { Logger } from '../util/log.js';
import { metrics, type AnswerSource, type RequestAction, type RequestKind } from '../metrics/metrics.js';

/** What the steps learn about a request, for its log line. */
export interface Entry {
  user?: string;
  repository?: string;
  action?: string;
  /** What the request is, for the metrics' `action` label (not logged): set by the steps. */
  kind?: RequestAction;
  /** manifest, blob or other, for the latency's `kind` label (not logged): set by the route step. */
  moves?: RequestKind;
  /** Who wrote the answer: set to upstream when the registry's answer is relayed. */
  source?: AnswerSource;
  /** The request's ID: the trace ID of its traceparent (the client's, or one made here); logged and sent upstream. */
  requestId?: string;
}

// The entry of each request being answered, for the proxy's response hook (which has only the request).
const entries = new WeakMap<IncomingMessage, Entry>();

/** The log entry of a request being answered, if any. */
export const entryOf = (req: IncomingMessage): Entry | undefined => entries.get(req);

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

/**
 * `probes`: whether /livez, /readyz, /healthz... get a line too (log.probes);
 * by default they do not: a probe every few seconds from every node buries the requests.
 */
export function accessLog(req: IncomingMessage, res: ServerResponse, log: Logger, probes = false): Entry {
  const entry: Entry = {};
  entries.set(req, entry);
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
    metrics.request({
      method: req.method, action: entry.kind ?? 'other', kind: entry.moves, source: entry.source, status: res.statusCode, seconds,
      ...transferred(socket),
    });
    if (entry.kind === 'health' && !probes) return;
    const agent = req.headers['user-agent'];
    log.info({
      requestId: entry.requestId ?? null,
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
      // Who says they are asking: bounded, as any client may send 16 KiB of it.
      userAgent: typeof agent === 'string' ? agent.slice(0, 256) : null,
    }, 'request');
  });
  return entry;
}
