// A real distribution registry (Debian's docker-registry) for integration tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile, mkdir } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { onExit } from './cleanup.js';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, host, () => { socket.destroy(); resolve(true); });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function waitForLog(read: () => string, text: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!read().includes(text)) {
    if (Date.now() > deadline) throw new Error(`no '${text}' after ${timeoutMs} ms: ${read()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface Registry {
  port: number;
  url: string;
  log: () => string;
  stop: () => Promise<void>;
}

export interface RegistryOptions {
  storage: string;
  tls?: { cert: string; key: string };
  port?: number;
  /** Run inside a network namespace: ['ip', 'netns', 'exec', NAME]. */
  prefix?: string[];
  /** A complete config of the caller's instead of the generated one. */
  configPath?: string;
}

/** Starts `docker-registry serve` on loopback; the config is JSON, which YAML parsers read as-is. */
export async function startRegistry(workDir: string, opts: RegistryOptions): Promise<Registry> {
  const port = opts.port ?? (await freePort());
  await mkdir(opts.storage, { recursive: true });
  const config = {
    version: 0.1,
    log: { level: opts.prefix ? 'info' : 'warn', accesslog: { disabled: true } },
    storage: { filesystem: { rootdirectory: opts.storage }, delete: { enabled: true } },
    http: { addr: `127.0.0.1:${port}`, ...(opts.tls ? { tls: { certificate: opts.tls.cert, key: opts.tls.key } } : {}) },
  };
  const configPath = opts.configPath ?? join(workDir, `registry-${port}.yml`);
  if (!opts.configPath) await writeFile(configPath, JSON.stringify(config));
  const [cmd, ...args] = [...(opts.prefix ?? []), 'docker-registry', 'serve', configPath];
  const child: ChildProcess = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const forget = onExit(() => child.kill('SIGKILL'));
  void exited.then(forget);
  try {
    await Promise.race([opts.prefix ? waitForLog(() => output, 'listening on') : waitForPort(port), exited.then(() => { throw new Error(`docker-registry exited: ${output}`); })]);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    port,
    url: `${opts.tls || opts.configPath ? 'https' : 'http'}://127.0.0.1:${port}`,
    log: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
