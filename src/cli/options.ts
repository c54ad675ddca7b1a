// Option parsers shared by every command: each refuses a bad value with a
// message that names it and says what is accepted.
import { InvalidArgumentError } from 'commander';

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
