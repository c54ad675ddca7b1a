// A small pool of worker threads for bcrypt, with a bounded queue: when the
// queue is full the caller is told at once instead of waiting behind a flood.
// Clean sources first (passwordLogin.ts says who is clean): their checks run
// before those of sources that failed recently, or that already have one
// queued, and each source may have only maxPerSource checks waiting. A
// clean check that finds the queue full takes the place of the newest one
// from a source that is not (that one is refused, which counts as its
// source's failure). Clean checks are served newest first: a spray from
// many fresh addresses queues one clean check each, once a window, and a
// correct login arriving after that wave must not wait for all of it (at
// 0.1 s a check, 64 of them are 6 s); it waits for the checks running and
// for clean ones that come after it, which need yet more fresh sources.
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';

/** Where a check comes from: its source (an IPv4 address, an IPv6 /56) and whether that failed recently. */
export interface CheckOrigin { source: string; clean: boolean }

export interface BcryptPool {
  /** Resolves true/false, or rejects with BusyError when the queue (or the source's part of it) is full. */
  compare(password: string, hash: string, origin?: CheckOrigin): Promise<boolean>;
  close(): Promise<void>;
}

export class BusyError extends Error {}

// The worker's code is inline, requiring bcryptjs by its resolved path, so it
// runs the same from dist/ and from the TypeScript sources under test. One
// comparison at cost 10 is about 0.1 s of CPU in bcryptjs: never on the event loop.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const bcrypt = require(${JSON.stringify(createRequire(import.meta.url).resolve('bcryptjs'))});
parentPort.on('message', (msg) => {
  let ok = false;
  try { ok = bcrypt.compareSync(msg.password, msg.hash); } catch { ok = false; }
  parentPort.postMessage({ id: msg.id, ok });
});`;

export interface PoolOptions {
  size?: number;
  maxQueue?: number;
  /** Checks one source may have waiting. */
  maxPerSource?: number;
  /** A worker with nothing to do for this long exits; the next check starts one again. */
  idleMs?: number;
}

// Workers start on the first check and stop when idle: each is a V8 isolate
// of about 13 MiB, and clients that send cached credentials (or tokens) need
// none. Restarting one costs about 30 ms, small beside a 100 ms bcrypt run.
export function createBcryptPool(opts: PoolOptions = {}): BcryptPool & { readonly workers: number; readonly waiting: number } {
  const size = opts.size ?? Math.max(1, Math.min(2, availableParallelism() - 1));
  const maxQueue = opts.maxQueue ?? 64;
  const maxPerSource = opts.maxPerSource ?? 4;
  const idleMs = opts.idleMs ?? 60_000;
  type Task = { id: number; password: string; hash: string; source: string; resolve: (ok: boolean) => void; reject: (e: Error) => void };
  const idle: Worker[] = [];
  const all = new Set<Worker>();
  // Two queues, clean sources' first; `queued` counts each source's waiting checks.
  const first: Task[] = [];
  const later: Task[] = [];
  const queued = new Map<string, number>();
  const count = (source: string, by: number) => {
    const n = (queued.get(source) ?? 0) + by;
    if (n <= 0) queued.delete(source);
    else queued.set(source, n);
  };
  const next = (): Task | undefined => {
    const task = first.pop() ?? later.shift();
    if (task) count(task.source, -1);
    return task;
  };
  const running = new Map<Worker, Task>();
  const timers = new Map<Worker, NodeJS.Timeout>();
  let nextId = 0;
  let closed = false;

  const forget = (worker: Worker) => {
    all.delete(worker);
    timers.delete(worker);
    const i = idle.indexOf(worker);
    if (i >= 0) idle.splice(i, 1);
  };
  const retire = (worker: Worker) => {
    forget(worker);
    void worker.terminate();
  };
  const rest = (worker: Worker) => {
    idle.push(worker);
    const timer = setTimeout(() => retire(worker), idleMs);
    timer.unref();
    timers.set(worker, timer);
  };
  const start = () => {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref();
    all.add(worker);
    worker.on('message', (msg: { id: number; ok: boolean }) => {
      const task = running.get(worker);
      running.delete(worker);
      if (task?.id === msg.id) task.resolve(msg.ok);
      rest(worker);
      dispatch();
    });
    worker.on('error', (err) => {
      running.get(worker)?.reject(err);
      running.delete(worker);
    });
    // A worker that dies (or is retired) is replaced on demand by dispatch.
    worker.on('exit', () => {
      forget(worker);
      const task = running.get(worker);
      running.delete(worker);
      task?.reject(new Error('bcrypt worker exited'));
      if (!closed) dispatch();
    });
    return worker;
  };

  function dispatch(): void {
    while (first.length + later.length > 0 && (idle.length > 0 || all.size < size)) {
      const worker = idle.pop() ?? start();
      clearTimeout(timers.get(worker));
      timers.delete(worker);
      const task = next()!;
      running.set(worker, task);
      worker.postMessage({ id: task.id, password: task.password, hash: task.hash });
    }
  }

  return {
    get workers() {
      return all.size;
    },
    compare(password, hash, origin = { source: '', clean: true }) {
      if (closed) return Promise.reject(new Error('bcrypt pool closed'));
      const { source } = origin;
      const waiting = queued.get(source) ?? 0;
      if (waiting >= maxPerSource) return Promise.reject(new BusyError('too many password checks waiting from this source'));
      // A source with a check already waiting is not first in line again.
      const clean = origin.clean && waiting === 0;
      if (first.length + later.length >= maxQueue) {
        const bumped = clean ? later.pop() : undefined;
        if (!bumped) return Promise.reject(new BusyError('too many password checks waiting'));
        count(bumped.source, -1);
        bumped.reject(new BusyError('too many password checks waiting'));
      }
      return new Promise<boolean>((resolve, reject) => {
        (clean ? first : later).push({ id: nextId++, password, hash, source, resolve, reject });
        count(source, 1);
        dispatch();
      });
    },
    get waiting() {
      return first.length + later.length;
    },
    async close() {
      closed = true;
      timers.forEach((t) => clearTimeout(t));
      await Promise.all([...all].map((w) => w.terminate()));
    },
  };
}
