// JSON logs on stdout, one line per event (pino). Passwords and tokens never
// reach them: the access log records the path without secret query values,
// and no header is ever logged.
import cluster from 'node:cluster';
import { pino, type Logger } from 'pino';

export type { Logger };

// One write(2) per request is a large share of a small request's cost: lines
// are gathered for up to 100 ms (or 4 KiB) and written together, and what is
// pending is flushed synchronously at exit. Not in cluster workers: they
// share stdout, and only single-line writes (under PIPE_BUF) cannot interleave.
const stdoutDestination = () => (cluster.isWorker ? pino.destination({ fd: 1, sync: true }) : pino.destination({ fd: 1, sync: false, minLength: 4096, periodicFlush: 100 }));

export function createLogger(destination: pino.DestinationStream = stdoutDestination()): Logger {
  return pino({ base: null, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } }, destination);
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
