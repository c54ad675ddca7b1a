// A real redis-server (Debian's) on a free loopback port, nothing saved to
// disk; it can be killed, frozen (SIGSTOP: a Redis that stops answering) and
// started again on the same port.
import { spawn, type ChildProcess } from 'node:child_process';
import { onExit } from './cleanup.js';
import { freePort } from './registry.js';

export interface RedisServer {
  port: number;
  url: string;
  pid: () => number;
  /** Kills it (SIGKILL: no goodbye to clients, as a crash or a lost node). */
  kill: () => Promise<void>;
  /** Starts it again on the same port, empty. */
  restart: () => Promise<void>;
  freeze: () => void;
  thaw: () => void;
  stop: () => Promise<void>;
}

export interface RedisOptions {
  password?: string;
  /** A read-only replica of this one (`--replicaof`), authenticating with the same password. */
  replicaOf?: RedisServer;
  /** TLS only (no plain port), with this certificate and key; url is then rediss://localhost:PORT. */
  tls?: { cert: string; key: string; ca: string };
}

export async function startRedis(dir: string, opts: RedisOptions = {}): Promise<RedisServer> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let forget = () => {};
  const start = async () => {
    const args = [...(opts.tls
      ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', opts.tls.cert, '--tls-key-file', opts.tls.key,
        '--tls-ca-cert-file', opts.tls.ca, '--tls-auth-clients', 'no']
      : ['--port', String(port)]), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
      ...(opts.password ? ['--requirepass', opts.password] : []),
      ...(opts.replicaOf ? ['--replicaof', '127.0.0.1', String(opts.replicaOf.port), ...(opts.password ? ['--masterauth', opts.password] : [])] : [])];
    const c = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    let out = '';
    c.stdout!.on('data', (d) => (out += d));
    c.stderr!.on('data', (d) => (out += d));
    exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    const undo = onExit(() => c.kill('SIGKILL'));
    forget = () => void undo();
    const deadline = Date.now() + 10_000;
    while (!out.includes('Ready to accept connections')) {
      if (c.exitCode !== null) throw new Error(`redis-server exited: ${out}`);
      if (Date.now() > deadline) throw new Error(`redis-server did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const kill = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
      await exited;
    }
    forget();
  };
  await start();
  return {
    port,
    url: opts.tls ? `rediss://localhost:${port}` : `redis://127.0.0.1:${port}`,
    pid: () => child!.pid!,
    kill,
    restart: start,
    freeze: () => void child!.kill('SIGSTOP'),
    thaw: () => void child!.kill('SIGCONT'),
    stop: kill,
  };
}

/** Runs redis-cli against it; its output, trimmed. */
export async function redisCli(server: RedisServer, args: string[], password?: string): Promise<string> {
  const c = spawn('redis-cli', ['-p', String(server.port), ...(password ? ['--no-auth-warning', '-a', password] : []), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  c.stdout.on('data', (d) => (out += d));
  c.stderr.on('data', (d) => (out += d));
  await new Promise((r) => c.once('exit', r));
  return out.trim();
}
