import { after } from 'node:test';

// A last line of cleanup: when a test file dies in its top-level setup, its
// `after` hooks never run, and a rejected top-level await ends the process
// without an 'exit' event. Everything registered here is undone then
// (uncaughtExceptionMonitor observes without changing how the process dies),
// or at a normal exit, synchronously, so nothing outlives the file.
const tasks = new Set<() => void>();
let installed = false;

/** Registers a synchronous undo; returns a function that unregisters it (after a normal cleanup). */
export function onExit(task: () => void): () => void {
  if (!installed) {
    installed = true;
    const runAll = () => {
      for (const t of [...tasks].reverse()) {
        tasks.delete(t);
        try {
          t();
        } catch {
          // best effort: keep undoing the rest
        }
      }
    };
    process.once('exit', runAll);
    process.on('uncaughtExceptionMonitor', runAll);
  }
  tasks.add(task);
  return () => tasks.delete(task);
}

/** Async undo steps run (last first) when the test file ends, via node:test's after(). */
export function cleanupList(): (() => Promise<unknown>)[] {
  const list: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const undo of list.reverse()) await undo().catch(() => {});
  });
  return list;
}
