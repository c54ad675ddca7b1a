// `serve --workers N`: one TLS listener per core with node:cluster. TLS
// (handshakes and record encryption) runs on the event loop, so a single
// process is bounded by one core; workers share the listening socket.
// The primary prepares what must exist once (the token signing key), then
// forks; workers receive the validated config, not the command line, so
// `gateway up` sets things up only once.
import cluster, { type Worker } from 'node:cluster';
import type { Config, Overrides } from '../config/config.js';
import type { Logger } from '../util/log.js';
import type { LocalThrottle, Throttle } from '../auth/throttle.js';
import { AGAIN_HINT, onStopSignals, STOP_NOW_MESSAGE, type StopSignal } from './stopSignals.js';

const CONFIG_ENV = 'GATEWAY_WORKER_CONFIG';
// Past shutdown.delay + shutdown.grace, a worker that has still not exited is killed.
const WORKER_EXIT_MARGIN_MS = 5_000;

export const isWorker = (): boolean => cluster.isWorker && process.env[CONFIG_ENV] !== undefined;

export function workerConfig(): { config: Config; configPath: string | undefined; overrides: Overrides } {
  const given = JSON.parse(process.env[CONFIG_ENV]!) as { config: Config; configPath: string | undefined; overrides?: Overrides };
  return { ...given, overrides: given.overrides ?? {} };
}

type ThrottleEvent = { throttle: string; op: 'failure' | 'success'; key: string };
const isThrottleEvent = (m: unknown): m is ThrottleEvent =>
  typeof m === 'object' && m !== null && typeof (m as ThrottleEvent).throttle === 'string' && typeof (m as ThrottleEvent).key === 'string';

/**
 * In a worker, tells the others (through the primary) of every failure and
 * success, and applies theirs: N workers must not give a password guesser N
 * times the tries. Outside a cluster the throttle is returned as it is.
 * With `redis:` configured the workers count there instead (server.ts).
 */
export function sharedThrottle(name: string, local: LocalThrottle): Throttle {
  if (!isWorker() || !process.send) return local;
  process.on('message', (m: unknown) => {
    if (isThrottleEvent(m) && m.throttle === name) local[m.op === 'failure' ? 'failure' : 'success'](m.key);
  });
  const tell = (op: ThrottleEvent['op'], key: string) => process.send!({ throttle: name, op, key } satisfies ThrottleEvent);
  return {
    take(key) {
      const t = local.take(key);
      if (t.wait > 0) return t;
      return {
        wait: 0,
        end(failed) {
          t.end(failed);
          if (failed) tell('failure', key);
        },
      };
    },
    success(key) {
      local.success(key);
      tell('success', key);
    },
  };
}

/** Runs N workers until SIGTERM/SIGINT; restarts one that dies; forwards SIGHUP. */
export async function runWorkers(
  n: number, config: Config, configPath: string | undefined, log: Logger, overrides: Overrides = {},
): Promise<StopSignal | undefined> {
  // The flags too: a worker re-reading gateway.yaml (configReload.ts) applies them as the start did.
  const env = { [CONFIG_ENV]: JSON.stringify({ config, configPath, overrides }) };
  let stopping = false;
  const fork = (): Worker => cluster.fork(env);
  const workers = new Set<Worker>();
  // The primary relays throttle events from each worker to the others.
  cluster.on('message', (from, m: unknown) => {
    if (!isThrottleEvent(m)) return;
    for (const w of workers) if (w !== from && w.isConnected()) w.send(m);
  });
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
  let atOnce: StopSignal | undefined;
  process.on('SIGHUP', () => {
    for (const w of workers) w.process.kill('SIGHUP');
  });
  await new Promise<void>((resolve) => {
    const stop = (signal: StopSignal) => {
      // Ctrl-C's SIGINT and a SIGTERM after it: one drain.
      if (stopping) return;
      stopping = true;
      log.info({ signal, workers: workers.size, hint: AGAIN_HINT }, 'shutting down workers');
      if (workers.size === 0) resolve();
      cluster.on('exit', () => {
        if (workers.size === 0) resolve();
      });
      // Each worker drains (shutdown.delay, then shutdown.grace for requests in flight); one that hangs past that is killed.
      const limitMs = (config.shutdown.delay + config.shutdown.grace) * 1000 + WORKER_EXIT_MARGIN_MS;
      setTimeout(() => {
        for (const w of workers) {
          log.warn({ worker: w.id, limitMs }, 'worker still running after the shutdown grace period: killing it');
          w.process.kill('SIGKILL');
        }
      }, limitMs).unref();
      for (const w of workers) w.process.kill('SIGTERM');
    };
    // A second signal from the operator: every worker cuts what it has in flight and exits at once.
    const again = (signal: StopSignal) => {
      atOnce = signal;
      log.warn({ signal, workers: workers.size }, 'second stop signal: the workers stop at once');
      for (const w of workers) if (w.isConnected()) w.send({ type: STOP_NOW_MESSAGE, signal });
    };
    onStopSignals({ first: stop, again, log });
  });
  return atOnce;
}
