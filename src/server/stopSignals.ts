// SIGINT and SIGTERM stop the gateway. The first one drains (drain.ts): with
// a push in flight that can take shutdown.grace (300 s by default). A second
// one, as with docker compose and most servers, stops at once: the transfers
// in flight are cut. But one operator action often delivers a signal more
// than once: Ctrl-C reaches both npm and the gateway (same process group) and
// npm passes its own on; a SIGTERM to the group likewise; and when npm dies,
// the kernel's parent-death signal (setpriv --pdeathsig, scripts/start.sh)
// or the gateway's own check of its parent (serve.ts) sends SIGINT too. So a
// signal is a second one only REPEAT_AFTER_MS after the first (duplicates
// come within milliseconds; a person pressing Ctrl-C again takes longer),
// and a SIGINT after the parent is gone is that parent's death, not a person.
import type { Logger } from '../util/log.js';

export type StopSignal = 'SIGINT' | 'SIGTERM';
export const STOP_SIGNALS: readonly StopSignal[] = ['SIGINT', 'SIGTERM'];
/** Signals closer than this to the first are the same stop. */
export const REPEAT_AFTER_MS = 1000;
/** What the first signal's log line says about the second. */
export const AGAIN_HINT = 'a second Ctrl-C (SIGINT) or SIGTERM stops at once, cutting the transfers in flight';
/** The primary of --workers tells its workers to stop at once with this message (they ignore repeated signals). */
export const STOP_NOW_MESSAGE = 'registry-gateway:stop-now';

/** The conventional exit status of a process ended by a signal: 128 + its number (130 SIGINT, 143 SIGTERM). */
export const exitStatusFor = (signal: StopSignal): number => (signal === 'SIGINT' ? 130 : 143);

export interface StopSignalOptions {
  /** The first signal: start the drain. */
  first(signal: StopSignal): void;
  /** A second signal from the operator: stop at once. Not called for the duplicates of the first. */
  again(signal: StopSignal): void;
  /** For tests; the parent process id when the handlers were installed. */
  now?: () => number;
  parent?: () => number;
  log?: Logger;
}

/** What to do with each stop signal, in the order they come: first, again, or nothing (a duplicate). */
export function stopSignalHandler(o: StopSignalOptions): (signal: StopSignal) => void {
  const now = o.now ?? Date.now;
  const parent = o.parent ?? (() => process.ppid);
  const startParent = parent();
  let firstAt: number | undefined;
  let forced = false;
  const handle = (signal: StopSignal) => {
    if (firstAt === undefined) {
      firstAt = now();
      o.first(signal);
      return;
    }
    if (forced) return;
    const parentGone = parent() !== startParent;
    if (now() - firstAt < REPEAT_AFTER_MS || (signal === 'SIGINT' && parentGone)) {
      o.log?.debug({ signal, parentGone }, 'stop signal repeated by the same stop: draining on');
      return;
    }
    forced = true;
    o.again(signal);
  };
  return handle;
}

/** Installs the SIGINT and SIGTERM handlers (`on`: every later signal is looked at). */
export function onStopSignals(o: StopSignalOptions): void {
  const handle = stopSignalHandler(o);
  for (const s of STOP_SIGNALS) process.on(s, () => handle(s));
}
