// gateway.yaml under a running gateway: re-read on a change of the file (polled)
// and on SIGHUP. What can change live is applied (the access rules); for the
// rest the log names each changed setting and says it needs a restart, so an
// edit is never silently ignored.
import { metrics } from '../metrics/metrics.js';
import { isDeepStrictEqual } from 'node:util';
import { loadConfig, type Config, type Overrides } from '../config/config.js';
import type { Logger } from '../util/log.js';
import { watchFiles } from '../util/watchFiles.js';

/** Settings a running gateway takes without a restart. */
export const LIVE_SETTINGS = ['access'] as const;

/** The settings (dotted paths, down to the second level) whose values differ. */
export function configChanges(before: Config, after: Config): string[] {
  const changed: string[] = [];
  const keys = (a: object, b: object) => [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  const plain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const a = before as unknown as Record<string, unknown>;
  const b = after as unknown as Record<string, unknown>;
  for (const k of keys(a, b)) {
    if (isDeepStrictEqual(a[k], b[k])) continue;
    const [x, y] = [a[k], b[k]];
    if (plain(x) && plain(y)) {
      for (const k2 of keys(x, y)) if (!isDeepStrictEqual(x[k2], y[k2])) changed.push(`${k}.${k2}`);
    } else {
      changed.push(k);
    }
  }
  return changed;
}

const isLive = (path: string) => LIVE_SETTINGS.some((s) => path === s || path.startsWith(`${s}.`));

export interface ConfigReloader {
  /** Re-reads the file now (SIGHUP). */
  reload(why: 'signal' | 'change'): Promise<void>;
  stop(): void;
}

/**
 * Re-reads `path` with the same flags as at start. `apply` gets the new
 * config for the live settings; the rest stay as started, and are named again
 * at each reload until the gateway is restarted.
 */
export function watchConfig(
  path: string, overrides: Overrides, started: Config, apply: (next: Config) => void, log: Logger, intervalMs = 2000,
): ConfigReloader {
  let active = started;
  let queue = Promise.resolve();
  const reload = (why: 'signal' | 'change') => (queue = queue.then(async () => {
    let next: Config;
    try {
      next = await loadConfig(path, overrides);
    } catch (err) {
      metrics.reloadFailed('config');
      log.error({ config: path, error: (err as Error).message }, 'config reload failed; the gateway keeps running with the config it has');
      return;
    }
    const changed = configChanges(active, next);
    if (changed.length === 0) {
      if (why === 'signal') log.info({ config: path }, 'config re-read: nothing changed');
      return;
    }
    const applied = changed.filter(isLive);
    const needsRestart = changed.filter((p) => !isLive(p));
    if (applied.length > 0) {
      apply(next);
      active = { ...active, access: next.access };
    }
    const message = needsRestart.length === 0 ? 'config changed: applied'
      : `config changed: ${applied.length > 0 ? 'applied what can change live; ' : ''}restart the gateway for ${needsRestart.join(', ')}`;
    log[needsRestart.length > 0 ? 'warn' : 'info']({ config: path, applied, needsRestart }, message);
  }));
  const stopWatch = watchFiles([path], () => void reload('change'), intervalMs);
  return { reload, stop: stopWatch };
}
