// Where the CLI writes: results to stdout, warnings and errors to stderr.
export interface Output {
  out(line: string): void;
  warn(line: string): void;
}

export const consoleOutput: Output = {
  out: (line) => process.stdout.write(`${line}\n`),
  warn: (line) => process.stderr.write(`warning: ${line}\n`),
};

/** The whole result of a command as one JSON document (`-o json`). */
export function printJson(io: Output, value: unknown): void {
  io.out(JSON.stringify(value, null, 2));
}
