// The connection to the Redis (or Valkey) that replicas share (config
// `redis:`; README, Scaling out). Failed-login counts live there, and the
// web UI's logged-out sessions (src/ui/revocations.ts); neither must ever
// wait on it: commands fail at once when it is not connected
// (no offline queue) and after `redis.timeout` ms when it is slow. Then the
// throttles count per process (src/shared/throttle.ts) until it answers
// again: a lost connection until ioredis is connected again (backoff up to
// 2 s), a timeout until a ping answers in time. One warning per outage, one
// info line at its end.
import { readFile } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { fail } from '../errors.js';
import type { Logger } from '../util/log.js';

export interface RedisSettings {
  url: string;
  passwordFile?: string | undefined;
  prefix: string;
  /** Milliseconds a command may take. */
  timeout: number;
}

export interface SharedState {
  client: Redis;
  /** Prefix of every key this gateway writes. */
  prefix: string;
  /** Whether to send commands now (false while it is down: they would fail or wait). */
  usable(): boolean;
  /** A command failed: counts as down until Redis answers again. */
  failed(err: unknown): void;
  /** undefined while reachable, else a short public reason (for /readyz). */
  status(): string | undefined;
  close(): Promise<void>;
}

export const REDIS_UNREACHABLE = 'redis unreachable';
export const DOWN_MESSAGE = 'redis unreachable: failed-login limits are per process until it returns';
export const UP_MESSAGE = 'redis reachable: failed-login limits are shared again';

/** The password in redis.passwordFile (a mounted Secret): its one line, without the trailing newline. */
export async function readRedisPassword(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      return fail('FILE_MISSING', `redis.passwordFile ${path} not found: write the Redis password into it (one line), or remove redis.passwordFile if Redis needs none`);
    }
    return fail('FILE_INVALID', `cannot read redis.passwordFile ${path}: ${code ?? (err as Error).message}; the gateway's user must be able to read it`);
  }
  const password = text.replace(/\r?\n$/, '');
  if (password === '') fail('FILE_INVALID', `redis.passwordFile ${path} is empty: write the Redis password into it, or remove redis.passwordFile`);
  return password;
}

/** Where it connects, for logs: the URL without user or password. */
const describe = (url: string) => {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
};

/**
 * Connects and waits briefly for the first answer; an unreachable Redis does
 * not stop the start (logins work, counted per process, and it is retried
 * with backoff). Only a passwordFile that cannot be read does.
 */
export async function connectShared(settings: RedisSettings, log: Logger): Promise<SharedState> {
  const password = settings.passwordFile ? await readRedisPassword(settings.passwordFile) : undefined;
  const where = describe(settings.url);
  const client = new Redis(settings.url, {
    ...(password !== undefined ? { password } : {}),
    lazyConnect: true,
    enableOfflineQueue: false,
    commandTimeout: settings.timeout,
    connectTimeout: Math.max(1000, settings.timeout * 4),
    maxRetriesPerRequest: 1,
    // Backoff from 200 ms to 2 s: back within seconds of Redis returning.
    retryStrategy: (times) => Math.min(2000, 100 * 2 ** Math.min(times, 5)),
    connectionName: 'registry-gateway',
  });
  // undefined = reachable; otherwise the reason it is not (warned of once).
  let down: string | undefined = 'connecting';
  let warned = false;
  // A command timed out on a live connection: maybe Redis is slow, maybe this
  // event loop was busy. Nothing waits on Redis until a ping answers in time;
  // only a ping that does not counts as down.
  let doubted = false;
  let probe: NodeJS.Timeout | undefined;
  let closing = false;
  const markUp = () => {
    clearInterval(probe);
    probe = undefined;
    doubted = false;
    if (down === undefined) return;
    down = undefined;
    if (warned) log.info({ redis: where }, UP_MESSAGE);
    warned = false;
  };
  const markDown = (reason: string) => {
    if (closing) return;
    const was = down;
    down = reason;
    if (was === undefined || (was === 'connecting' && !warned)) {
      warned = true;
      log.warn({ redis: where, error: reason }, DOWN_MESSAGE);
    }
  };
  // The reason a connection ended (ECONNREFUSED, WRONGPASS...), for the warning.
  let lastError: string | undefined;
  client.on('ready', () => {
    lastError = undefined;
    markUp();
  });
  client.on('close', () => markDown(lastError ?? 'connection closed'));
  // Every failed reconnect emits one: the state change is logged once, above.
  client.on('error', (err: Error) => {
    lastError = err.message;
    log.debug({ redis: where, error: err.message }, 'redis error');
  });
  const ping = () => {
    if (client.status !== 'ready') return;
    client.ping().then(markUp, (err: Error) => markDown(err.message));
  };
  // Redis answering with an error (OOM, READONLY...) is not an outage: the
  // command falls back to this process's count, and each message is logged once.
  const replyErrors = new Set<string>();
  try {
    await client.connect();
  } catch (err) {
    markDown((err as Error).message);
  }
  return {
    client,
    prefix: settings.prefix,
    usable: () => down === undefined && !doubted && client.status === 'ready',
    failed(err) {
      const message = err instanceof Error ? err.message : String(err);
      if (err instanceof Error && err.name === 'ReplyError') {
        if (replyErrors.size < 100 && !replyErrors.has(message)) {
          replyErrors.add(message);
          log.error({ redis: where, error: message }, 'redis refused a command; counting in this process');
        }
        return;
      }
      if (client.status !== 'ready') return markDown(message);
      if (doubted) return;
      doubted = true;
      ping();
      probe ??= setInterval(ping, 1000).unref();
    },
    // Public (/readyz answers before auth): no address, no error text; those are in the log.
    status: () => (down === undefined && client.status === 'ready' ? undefined : REDIS_UNREACHABLE),
    async close() {
      closing = true;
      clearInterval(probe);
      await Promise.race([client.quit().catch(() => {}), new Promise((r) => setTimeout(r, 1000).unref())]);
      client.disconnect();
    },
  };
}
