// JSON logs on stdout, one line per event (pino). Passwords and tokens never
// reach them: the access log records the path without secret query values,
// and no header is ever logged.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(destination: NodeJS.WritableStream = process.stdout): Logger {
  return pino({
    base: null, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) },
  }, destination as pino.DestinationStream);
}
