// JSON logs on stdout, one line per event (pino). Passwords and tokens never
// reach them: the access log records the path without secret query values,
// and no header is ever logged.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(destination: NodeJS.WritableStream = process.stdout): Logger {
  return pino({ base: null, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } }, destination as pino.DestinationStream);
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
