// A small pool of worker threads for bcrypt, with a bounded queue: when the
// queue is full the caller is told at once instead of waiting behind a flood.
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';

export interface BcryptPool {
  /** Resolves true/false, or rejects with BusyError when the queue is full. */
  compare(password: string, hash: string): Promise<boolean>;
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

export function createBcryptPool(size = Math.max(1, Math.min(2, availableParallelism() - 1)), maxQueue = 64): BcryptPool {
  type Task = { id: number; password: string; hash: string; resolve: (ok: boolean) => void; reject: (e: Error) => void };
  const idle: Worker[] = [];
  const queue: Task[] = [];
  const running = new Map<number, Task>();
  let nextId = 0;
  let closed = false;

  const dispatch = () => {
    while (idle.length > 0 && queue.length > 0) {
      const worker = idle.pop()!;
      const task = queue.shift()!;
      running.set(task.id, task);
      worker.postMessage({ id: task.id, password: task.password, hash: task.hash });
    }
  };

  const workers = Array.from({ length: size }, () => {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref();
    worker.on('message', (msg: { id: number; ok: boolean }) => {
      const task = running.get(msg.id);
      running.delete(msg.id);
      idle.push(worker);
      task?.resolve(msg.ok);
      dispatch();
    });
    worker.on('error', (err) => {
      for (const task of running.values()) task.reject(err);
      running.clear();
    });
    idle.push(worker);
    return worker;
  });

  return {
    compare(password, hash) {
      if (closed) return Promise.reject(new Error('bcrypt pool closed'));
      if (queue.length >= maxQueue) return Promise.reject(new BusyError('too many password checks waiting'));
      return new Promise<boolean>((resolve, reject) => {
        queue.push({ id: nextId++, password, hash, resolve, reject });
        dispatch();
      });
    },
    async close() {
      closed = true;
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
