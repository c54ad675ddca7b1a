// How the log is written, decided before anything heavy loads: the command
// line offers the choices at --help time, without loading the logger.
export type LogFormat = 'json' | 'text';
export const LOG_FORMATS = ['auto', 'json', 'text'] as const;
// Set by the primary for its workers, which share its stdout.
const FORMAT_ENV = 'GATEWAY_LOG_FORMAT';

/** 'auto': text on a terminal, JSON otherwise. Remembered for workers. */
export function resolveLogFormat(asked: string | undefined, stdout: { isTTY?: boolean } = process.stdout): LogFormat {
  const inherited = process.env[FORMAT_ENV];
  const format: LogFormat = asked === 'json' || asked === 'text' ? asked
    : inherited === 'json' || inherited === 'text' ? inherited
    : stdout.isTTY ? 'text' : 'json';
  process.env[FORMAT_ENV] = format;
  return format;
}
