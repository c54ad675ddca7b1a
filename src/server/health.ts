// Liveness, start-up and readiness of one gateway process, for Kubernetes'
// probes and load balancers. Readiness is a list of checks, each answering
// with nothing (fine) or a short public reason; draining (SIGTERM) fails it
// at once, so that endpoints stop sending new clients before the listener
// stops accepting. Checks that ask something over the network are cached for
// a second: probes from many nodes (and replicas behind one upstream) must
// not each cost the upstream a request.
import type { Logger } from '../util/log.js';
import type { ProbeResult, Probes } from '../metrics/probes.js';
import { askWorkers } from './workerQueries.js';

/** undefined: fine; a string: why not, in a few public words (details go to the log). */
export type CheckResult = undefined | string;

export interface ReadinessCheck {
  name: string;
  check(): CheckResult | Promise<CheckResult>;
}

export interface Health extends Probes {
  /**
   * What readiness needs. Add a check here (server.ts builds the list:
   * upstream, certificates; Redis when configured).
   */
  readonly checks: ReadinessCheck[];
  /** Listening, with the first certificate and config loaded. */
  markStarted(): void;
  /** SIGTERM: readiness fails from now on. */
  startDrain(): void;
  readonly started: boolean;
  readonly draining: boolean;
}

export const DRAINING = 'draining';
export const STARTING = 'starting';

/**
 * fn's answer, reused for `ttlMs` after it settles; callers during a run
 * share it. A check that throws counts as failed with `failure`.
 */
export function cached(fn: () => CheckResult | Promise<CheckResult>, ttlMs: number, failure: string, now: () => number = Date.now) {
  let last: { at: number; value: Promise<CheckResult> } | undefined;
  let running: Promise<CheckResult> | undefined;
  return (): Promise<CheckResult> => {
    if (running) return running;
    if (last && now() - last.at < ttlMs) return last.value;
    running = Promise.resolve()
      .then(fn)
      .catch(() => failure)
      .then((value) => {
        last = { at: now(), value: Promise.resolve(value) };
        running = undefined;
        return value;
      });
    return running;
  };
}

/** Runs every check at once; the reasons of those that fail, in list order. */
export async function readiness(
  checks: readonly ReadinessCheck[], draining: boolean, started: boolean, exclude: readonly string[] = [], verbose = false,
): Promise<ProbeResult> {
  const reasons: string[] = [];
  if (!started) reasons.push(STARTING);
  if (draining) reasons.push(DRAINING);
  // verbose (/readyz?verbose): the excluded run too, so that the answer names them all (a read-only Redis, say).
  const run = verbose ? checks : checks.filter((c) => !exclude.includes(c.name));
  const results = await Promise.all(run.map(async (c) => {
    try {
      return await c.check();
    } catch {
      return `${c.name} check failed`;
    }
  }));
  const details: string[] = [];
  run.forEach((c, i) => {
    const r = results[i];
    const excluded = exclude.includes(c.name);
    if (r !== undefined && !excluded) reasons.push(r);
    details.push(`[${r === undefined ? '+' : '-'}]${c.name} ${r === undefined ? 'ok' : `failed: ${r}`}${excluded ? ' (excluded)' : ''}`);
  });
  return verbose ? { ok: reasons.length === 0, reasons, details } : { ok: reasons.length === 0, reasons };
}

export function createHealth(log: Logger, checks: ReadinessCheck[] = []): Health {
  let started = false;
  let draining = false;
  // Logged when readiness changes, not on every probe.
  let wasReady: boolean | undefined;
  return {
    checks,
    markStarted: () => void (started = true),
    startDrain: () => void (draining = true),
    get started() {
      return started;
    },
    get draining() {
      return draining;
    },
    live: () => ({ ok: true, reasons: [] }),
    startup: () => (started ? { ok: true, reasons: [] } : { ok: false, reasons: [STARTING] }),
    async ready(exclude = [], verbose = false) {
      const result = await readiness(checks, draining, started, exclude, verbose);
      if (wasReady !== result.ok) {
        if (wasReady !== undefined || !result.ok) {
          if (result.ok) log.info('ready');
          else log.warn({ reasons: result.reasons }, 'not ready');
        }
        wasReady = result.ok;
      }
      return result;
    },
  };
}

/** The server certificate: loaded, and within its validity (an expired one fails every handshake). */
export function certificateCheck(current: () => { validFrom: string; validTo: string } | undefined, now: () => number = Date.now): ReadinessCheck {
  return {
    name: 'certificate',
    check() {
      const cert = current();
      if (!cert) return 'server certificate not loaded';
      const t = now();
      if (t > Date.parse(cert.validTo)) return 'server certificate expired';
      if (t < Date.parse(cert.validFrom)) return 'server certificate not yet valid';
      return undefined;
    },
  };
}

export const UPSTREAM_UNREACHABLE = 'upstream registry unreachable';
/** Short: Kubernetes' probes give up after 1 s by default. */
export const UPSTREAM_CHECK_TIMEOUT_MS = 800;
export const UPSTREAM_CHECK_TTL_MS = 1000;

/** The upstream answers /v2/ (any status below 500), as /healthz asks it; cached for a second. */
export function upstreamCheck(reachable: (timeoutMs: number) => Promise<boolean>, ttlMs = UPSTREAM_CHECK_TTL_MS): ReadinessCheck {
  const check = cached(async () => ((await reachable(UPSTREAM_CHECK_TIMEOUT_MS)) ? undefined : UPSTREAM_UNREACHABLE), ttlMs, UPSTREAM_UNREACHABLE);
  return { name: 'upstream', check };
}

/** How long the primary waits for the workers' probe answers: Kubernetes' probes time out after 1 s by default. */
export const WORKER_PROBE_MS = 950;

/** Combines workers' answers: fine when `expected` workers answer and each is fine. */
export function combineProbes(answers: readonly ProbeResult[], expected: number, extra: string[] = []): ProbeResult {
  const reasons = new Set(extra);
  for (const a of answers) a.reasons.forEach((r) => reasons.add(r));
  if (answers.length < expected) reasons.add(`${expected - answers.length} of ${expected} workers not answering`);
  return { ok: reasons.size === 0 && answers.every((a) => a.ok), reasons: [...reasons] };
}

/** The primary's probes under --workers (its metrics listener): the workers', combined. */
export function clusterProbes(workers: number, draining: () => boolean): Probes {
  const ask = async (kind: 'startup' | 'ready', extra: string[], exclude: readonly string[] = []) =>
    combineProbes((await askWorkers(kind, WORKER_PROBE_MS, exclude)) as ProbeResult[], workers, extra);
  return {
    live: () => ({ ok: true, reasons: [] }),
    startup: () => ask('startup', []),
    ready: (exclude) => ask('ready', draining() ? [DRAINING] : [], exclude),
  };
}
