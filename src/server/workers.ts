// `serve --workers N`: one TLS listener per core with node:cluster. TLS
// (handshakes and record encryption) runs on the event loop, so a single
// process is bounded by one core; workers share the listening socket.
// The primary prepares what must exist once (the token signing key), then
// forks; workers receive the validated config, not the command line, so
// `gateway up` sets things up only once.
import cluster, { type Worker } from 'node:cluster';
import type { Config } from '../config/config.js';
import type { Logger } from './log.js';

const CONFIG_ENV = 'GATEWAY_WORKER_CONFIG';

export const isWorker = (): boolean => cluster.isWorker && process.env[CONFIG_ENV] !== undefined;

export function workerConfig(): { config: Config; configPath: string | undefined } {
  return JSON.parse(process.env[CONFIG_ENV]!) as { config: Config; configPath: string | undefined };
}

/** Runs N workers until SIGTERM/SIGINT; restarts one that dies; forwards SIGHUP. */
export async function runWorkers(n: number, config: Config, configPath: string | undefined, log: Logger): Promise<void> {
  const env = { [CONFIG_ENV]: JSON.stringify({ config, configPath }) };
  let stopping = false;
  const fork = (): Worker => cluster.fork(env);
  const workers = new Set<Worker>();
  cluster.on('exit', (worker, code, signal) => {
    workers.delete(worker);
    if (stopping) return;
    log.error({ worker: worker.id, code, signal }, 'worker died; starting another');
    workers.add(fork());
  });
  // Workers that fail to start (a bad certificate, a busy port) fail the
  // same way every time: stop instead of forking forever.
  const started = Array.from({ length: n }, () => {
    const w = fork();
    workers.add(w);
    return new Promise<void>((resolve, reject) => {
      w.once('listening', () => resolve());
      w.once('exit', (code) => reject(new Error(`worker exited with code ${code} before listening`)));
    });
  });
  try {
    await Promise.all(started);
  } catch (err) {
    stopping = true;
    for (const w of workers) w.kill('SIGTERM');
    throw err;
  }
  log.info({ workers: n }, 'all workers listening');
  process.on('SIGHUP', () => {
    for (const w of workers) w.process.kill('SIGHUP');
  });
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      stopping = true;
      log.info({ signal, workers: workers.size }, 'shutting down workers');
      if (workers.size === 0) resolve();
      cluster.on('exit', () => {
        if (workers.size === 0) resolve();
      });
      for (const w of workers) w.process.kill('SIGTERM');
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
