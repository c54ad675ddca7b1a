// A real `gateway serve` process, as a user starts it.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './registry.js';
import { onExit } from './cleanup.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface GatewayProcess {
  port: number;
  url: string;
  pid: number;
  logs: () => string;
  /** Parsed JSON log lines. */
  entries: () => Record<string, unknown>[];
  /**
   * The first log line (from index `from`) that matches. Access-log lines are
   * written when a response closes and cross a pipe: they can arrive after
   * the client is done, so tests wait for them rather than read at once.
   */
  waitFor: (match: (e: Record<string, unknown>) => boolean, from?: number, timeoutMs?: number) => Promise<Record<string, unknown>>;
  signal: (sig: NodeJS.Signals) => void;
  /** The exit code once the process ends by itself (after signal('SIGTERM'), say); sends nothing. */
  exited: () => Promise<number | null>;
  stop: () => Promise<number | null>;
}

/** Starts `gateway serve --config` with this config (written as JSON, which is YAML). */
export async function startGateway(workDir: string, config: Record<string, unknown>, opts: { prefix?: string[]; host?: string; args?: string[]; cli?: string } = {}): Promise<GatewayProcess> {
  const port = (config.listen as string | undefined)?.split(':').pop() ? Number((config.listen as string).split(':').pop()) : await freePort();
  const full = { listen: `${opts.host ?? '127.0.0.1'}:${port}`, ...config };
  const path = join(workDir, `gateway-${port}.yaml`);
  await writeFile(path, JSON.stringify(full, null, 2));
  const [cmd, ...args] = [...(opts.prefix ?? []), process.execPath, opts.cli ?? CLI, 'serve', '--config', path, ...(opts.args ?? [])];
  const child: ChildProcess = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const forget = onExit(() => child.kill('SIGKILL'));
  void exited.then(forget);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start: ${out}`)), 15_000);
    // Removed once seen: scanning the whole (growing) output on every chunk
    // would cost the test process more CPU with every request logged.
    const check = () => {
      if (out.includes('"msg":"gateway started"')) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code}: ${out}`));
    });
  });
  const entries = () => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  return {
    port,
    url: `https://${opts.host ?? '127.0.0.1'}:${port}`,
    pid: child.pid!,
    logs: () => out,
    entries,
    async waitFor(match, from = 0, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = entries().slice(from).find(match);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no matching log line within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    signal: (sig) => child.kill(sig),
    exited: () => exited,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
