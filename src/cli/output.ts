// Where the CLI writes: results to stdout, warnings and errors to stderr.
export interface Output {
  out(line: string): void;
  warn(line: string): void;
}

export const consoleOutput: Output = {
  out: (line) => process.stdout.write(`${line}\n`),
  warn: (line) => process.stderr.write(`warning: ${line}\n`),
};
