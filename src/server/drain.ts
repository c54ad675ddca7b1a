// SIGTERM, as Kubernetes and load balancers expect it: readiness fails at
// once, and for `shutdown.delay` seconds everything is still served (the
// endpoints controller and the proxies in front need that long to stop
// sending new clients here); then the listener closes (new connections are
// refused), idle keep-alive connections are closed, and requests in flight
// get `shutdown.grace` seconds to finish: an upload in progress completes.
// Whatever is still open after that is cut, and the process can exit. A
// second stop signal (stopSignals.ts) aborts `now`: everything is cut at once.
import type { Server } from 'node:http';
import { setTimeout as wait } from 'node:timers/promises';
import type { Socket } from 'node:net';
import type { Logger } from '../util/log.js';

export interface DrainSettings {
  delayMs: number;
  graceMs: number;
  /** Aborted (by a second stop signal): cut what is still open at once, whatever the phase. */
  now?: AbortSignal | undefined;
}

/** What draining needs of a server: server.ts provides it for the HTTPS listener. */
export interface Drainable {
  /** Readiness fails; responses say Connection: close, so clients reconnect (elsewhere). */
  startDrain(): void;
  counts(): Promise<{ connections: number; requests: number }>;
  /** Stops accepting; resolves once every connection has closed. */
  stopAccepting(): Promise<void>;
  /** Closes connections with no request in progress (keep-alive between requests). */
  closeIdle(): void;
  /** Ends every connection left, in flight or not. */
  destroyAll(): void;
}

export type DrainPhase = 'serving' | 'delay' | 'grace' | 'cut' | 'closed';

/** Resolves after `ms`, or at once when `now` is aborted (the AbortError is the early end, not a failure). */
const sleep = (ms: number, now?: AbortSignal) => wait(ms, undefined, { signal: now, ref: false }).catch(() => {});

/** How often idle keep-alive connections are looked for during the grace period. */
export const IDLE_SWEEP_MS = 100;

/**
 * Runs the drain to its end; `onPhase` sees each phase as it starts (tests
 * and logs). Never throws: a shutdown must end.
 */
export async function drain(
  target: Drainable, settings: DrainSettings, log: Logger, onPhase: (phase: DrainPhase) => void = () => {},
): Promise<{ cut: number; atOnce: boolean }> {
  const { now } = settings;
  target.startDrain();
  onPhase('delay');
  log.info({ ...(await target.counts()), delay: settings.delayMs / 1000, grace: settings.graceMs / 1000 }, 'draining');
  if (settings.delayMs > 0) await sleep(settings.delayMs, now);
  onPhase('grace');
  const closed = target.stopAccepting();
  target.closeIdle();
  // A request that finishes leaves its connection idle: close it then, not at the idle timeout.
  const sweep = setInterval(() => target.closeIdle(), IDLE_SWEEP_MS);
  sweep.unref();
  const inTime = await Promise.race([closed.then(() => true), sleep(settings.graceMs, now).then(() => false)]);
  clearInterval(sweep);
  let cut = 0;
  if (!inTime) {
    const left = await target.counts();
    cut = left.requests;
    onPhase('cut');
    if (now?.aborted) {
      log.warn({ ...left, signal: String(now.reason) }, 'second stop signal: stopping at once, cutting the transfers in flight');
    }
    else log.warn({ ...left, grace: settings.graceMs / 1000 }, 'shutdown.grace is over: closing the connections still open');
    target.destroyAll();
    await closed;
  }
  onPhase('closed');
  return { cut, atOnce: !inTime && Boolean(now?.aborted) };
}

/**
 * An HTTP(S) server as a Drainable: `sockets` holds every connection
 * (server.ts adds them as they arrive), `requests` counts those in flight;
 * `closeWaiting` ends connections that have not started TLS yet.
 */
export function drainableServer(server: Server, parts: {
  startDrain(): void;
  sockets: ReadonlySet<Socket>;
  requests(): number;
  closeWaiting?: () => void;
}): Drainable {
  return {
    startDrain: parts.startDrain,
    counts: async () => ({ connections: parts.sockets.size, requests: parts.requests() }),
    stopAccepting: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      parts.closeWaiting?.();
    }),
    closeIdle: () => server.closeIdleConnections(),
    destroyAll: () => {
      server.closeAllConnections();
      for (const s of parts.sockets) s.destroy();
    },
  };
}
