// Logs on stdout, one line per event (pino). Passwords and tokens never
// reach them: the access log records the path without secret query values,
// and no header is ever logged. JSON for machines (the default when stdout
// is not a terminal, or --log-format json); on a terminal a short line per
// event, with long values (the setup commands) left to the start summary.
import { pino, type Logger } from 'pino';

export type { Logger };

export { LOG_FORMATS, resolveLogFormat, type LogFormat } from './logFormat.js';
import type { LogFormat } from './logFormat.js';

// Fields too long for a terminal line: shown once in the start summary instead.
const LONG_FIELDS = new Set(['commands']);
const MAX_VALUE = 160;

/** One JSON log line as `HH:MM:SS level message key=value …`. */
export function textLine(json: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const { level, time, msg, ...rest } = entry;
  const clock = typeof time === 'string' ? time.slice(11, 19) : '';
  const fields = Object.entries(rest)
    .filter(([k, v]) => !LONG_FIELDS.has(k) && v !== null && v !== undefined)
    .map(([k, v]) => {
      const text = typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v);
      return `${k}=${text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE - 1)}…` : text}`;
    });
  return `${clock} ${String(level).padEnd(5)} ${String(msg ?? '')}${fields.length ? `  ${fields.join(' ')}` : ''}\n`;
}

export function createLogger(destination: NodeJS.WritableStream = process.stdout, format: LogFormat = 'json'): Logger {
  const stream = format === 'json' ? destination
    : { write: (line: string) => destination.write(line.split('\n').filter(Boolean).map(textLine).join('')) };
  return pino({
    base: null, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) },
  }, stream as pino.DestinationStream);
}
