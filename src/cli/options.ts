// Option parsers shared by every command: each refuses a bad value with a
// message that names it and says what is accepted.
import { InvalidArgumentError, Option } from 'commander';

export function wholeNumber(what: string, min: number, max: number, why = '') {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${what} must be a whole number from ${min} to ${max}${why}.`);
    }
    return n;
  };
}

export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export type Format = 'text' | 'json';

/**
 * `-o json` (kubectl's convention) on the commands scripts read: one JSON
 * document on stdout, its shape documented in the README (Command line);
 * warnings and errors stay on stderr, the exit codes as they are.
 */
export const outputOption = () => new Option('-o, --output <format>', 'text, for people, or json, for scripts (README: Command line)')
  .choices(['text', 'json'])
  .default('text');

/** The config file every command reads when --config is not given and it exists. */
export const DEFAULT_CONFIG = 'config/gateway.yaml';
