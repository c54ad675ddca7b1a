// Slots of the upstream pool (limits.upstreamSockets), with a bounded wait.
// http.Agent queues a request past maxSockets for as long as it takes; here
// a request that has waited timeouts.poolWait for a slot gives up (503 with
// Retry-After), so a full pool is an answer, not a hang. The shares
// (shares.ts) keep any one principal from taking more than its part; this
// is what the rest wait on.

export interface Pool {
  /** A release function once a slot is free, or undefined after `waitMs` (or once `gone` says the caller left). */
  acquire(waitMs: number, gone?: () => boolean): Promise<(() => void) | undefined>;
  inUse(): number;
  waiting(): number;
}

export function createPool(size: number): Pool {
  let used = 0;
  const queue: { grant: (release: () => void) => void }[] = [];
  const release = () => {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = queue.shift();
      if (next) next.grant(release());
      else used--;
    };
  };
  return {
    acquire(waitMs, gone) {
      if (used < size) {
        used++;
        return Promise.resolve(release());
      }
      return new Promise((resolve) => {
        const waiter = {
          grant: (r: () => void) => {
            clearTimeout(timer);
            // The caller left while waiting: the slot goes on to the next.
            if (gone?.()) {
              r();
              resolve(undefined);
            } else resolve(r);
          },
        };
        const timer = setTimeout(() => {
          const i = queue.indexOf(waiter);
          if (i >= 0) queue.splice(i, 1);
          resolve(undefined);
        }, waitMs);
        timer.unref();
        queue.push(waiter);
      });
    },
    inUse: () => used,
    waiting: () => queue.length,
  };
}
