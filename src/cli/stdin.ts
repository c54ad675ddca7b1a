// Secrets piped in (`printf %s "$PW" | gateway ...`) rather than given on
// the command line, where ps would show them.

/** All of standard input as text, less one trailing newline (echo adds one). */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}
