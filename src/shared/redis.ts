// The connection to the Redis (or Valkey) that replicas share (config
// `redis:`; README, Scaling out). Failed-login counts live there, and the
// web UI's logged-out sessions (src/ui/revocations.ts); neither must ever
// wait on it: commands fail at once when it is not connected
// (no offline queue) and after `redis.timeout` ms when it is slow. Then the
// throttles count per process (src/shared/throttle.ts) until it answers
// again: a lost connection until ioredis is connected again (backoff up to
// 2 s), a timeout until a ping answers in time. One warning per outage, one
// info line at its end.
//
// A read-only replica (what a failover leaves a client connected to, until
// it reconnects to the new primary) answers reads but refuses every write:
// the throttles could not count, so it counts as a fallback too, named
// in /readyz and registry_gateway_redis_fallback{reason="readonly"} until
// ROLE says primary again.
//
// The epoch: a key set once (SET NX) holding the time it was created. A Redis
// restarted without persistence has lost the logouts (ui-revoked:*) and comes
// back without it; the first gateway to reconnect sets it anew, and every
// session issued before the new epoch is refused (src/ui/revocations.ts), on
// every replica: logged-out cookies stay dead, at the price of everyone
// logging in again.
import { readFile } from 'node:fs/promises';
import { Redis, type RedisOptions } from 'ioredis';
import { fail } from '../errors.js';
import { readRedisPassword } from './password.js';
import { metrics } from '../metrics/metrics.js';
import type { Logger } from '../util/log.js';

export interface RedisSettings {
  url: string;
  passwordFile?: string | undefined;
  /** rediss:// only: the CA (PEM file) the server's certificate is verified against; unset: the system's CAs. */
  ca?: string | undefined;
  /** Redis Sentinel: the master's name and the sentinels' host:port; the URL then gives the database (and rediss://). */
  sentinel?: { name: string; addresses: string[] } | undefined;
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
  /** When this Redis's data began (ms since 1970, whole seconds): sessions issued before are refused. Undefined until read. */
  epoch(): number | undefined;
  close(): Promise<void>;
}

export const REDIS_UNREACHABLE = 'redis unreachable';
export const REDIS_READONLY = 'redis is a read-only replica';
export const READONLY_MESSAGE =
  'redis is a read-only replica (after a failover?): failed-login limits are per process until it is a primary';
export const DOWN_MESSAGE = 'redis unreachable: failed-login limits are per process until it returns';
export const UP_MESSAGE = 'redis reachable: failed-login limits are shared again';

/** The password in redis.passwordFile (a mounted Secret): its one line, without the trailing newline. */
export { readRedisPassword };

/** Where it connects, for logs: the URL without user or password. */
const describe = (url: string) => {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
};

/** The CA of redis.ca, read once at start (a missing or non-PEM file stops the start). */
export async function readRedisCa(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return fail(code === 'ENOENT' ? 'FILE_MISSING' : 'FILE_INVALID', `cannot read redis.ca ${path}: ${code ?? (err as Error).message}; `
      + 'point it at the PEM file of the CA that signed the Redis server\'s certificate');
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) {
    fail('FILE_INVALID', `redis.ca ${path} holds no PEM certificate: point it at the CA's certificate (-----BEGIN CERTIFICATE-----)`);
  }
  return text;
}

/** ioredis's options for the URL, the password, the CA and Sentinel. */
export function connectionOptions(settings: RedisSettings, password: string | undefined, ca: string | undefined): RedisOptions {
  const u = new URL(settings.url);
  const tls = u.protocol === 'rediss:' ? { ...(ca !== undefined ? { ca } : {}), servername: u.hostname } : undefined;
  const db = Number(u.pathname.slice(1) || 0);
  const base: RedisOptions = { ...(password !== undefined ? { password } : {}), db };
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (!settings.sentinel) return { ...base, host, port: Number(u.port || 6379), ...(tls ? { tls } : {}) };
  // Sentinel: ioredis asks the sentinels where the master is, and follows a failover by itself.
  return {
    ...base,
    name: settings.sentinel.name,
    sentinels: settings.sentinel.addresses.map((a) => {
      const colon = a.lastIndexOf(':');
      return { host: a.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(a.slice(colon + 1)) };
    }),
    ...(tls ? { tls, enableTLSForSentinelMode: true, sentinelTLS: tls } : {}),
    // A replica after a failover: ask the sentinels again rather than stay.
    failoverDetector: true,
  };
}

/**
 * Connects and waits briefly for the first answer; an unreachable Redis does
 * not stop the start (logins work, counted per process, and it is retried
 * with backoff). Only a passwordFile that cannot be read does.
 */
export async function connectShared(settings: RedisSettings, log: Logger): Promise<SharedState> {
  const password = settings.passwordFile ? await readRedisPassword(settings.passwordFile) : undefined;
  const ca = settings.ca ? await readRedisCa(settings.ca) : undefined;
  const { sentinel } = settings;
  const where = sentinel ? `sentinel ${sentinel.name} (${sentinel.addresses.join(', ')})` : describe(settings.url);
  const client = new Redis({
    ...connectionOptions(settings, password, ca),
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
  // A read-only replica: reachable, but no write succeeds. Checked again every second until ROLE says primary.
  let readonly = false;
  let roleProbe: NodeJS.Timeout | undefined;
  let epoch: number | undefined;
  const gauge = () => metrics.redisFallback(down !== undefined ? 'unreachable' : readonly ? 'readonly' : undefined);
  gauge();
  const markUp = () => {
    clearInterval(probe);
    probe = undefined;
    doubted = false;
    if (down === undefined) return;
    down = undefined;
    gauge();
    if (warned) log.info({ redis: where }, UP_MESSAGE);
    warned = false;
  };
  const markDown = (reason: string) => {
    if (closing) return;
    const was = down;
    down = reason;
    gauge();
    if (was === undefined || (was === 'connecting' && !warned)) {
      warned = true;
      log.warn({ redis: where, error: reason }, DOWN_MESSAGE);
    }
  };
  const setReadonly = (value: boolean) => {
    if (readonly === value || closing) return;
    readonly = value;
    gauge();
    if (value) {
      log.warn({ redis: where }, READONLY_MESSAGE);
      roleProbe ??= setInterval(() => void checkRole(), 1000).unref();
    } else {
      clearInterval(roleProbe);
      roleProbe = undefined;
      log.info({ redis: where }, UP_MESSAGE);
    }
  };
  /** ROLE: master, or a replica (slave) that refuses writes. */
  const checkRole = async () => {
    if (client.status !== 'ready') return;
    try {
      const role = (await client.call('ROLE')) as unknown[];
      setReadonly(role[0] !== 'master');
    } catch (err) {
      // An ACL that denies ROLE: a write's READONLY reply still says so.
      log.debug({ redis: where, error: (err as Error).message }, 'redis ROLE failed');
    }
  };
  const epochKey = `${settings.prefix}epoch`;
  /** The epoch: set if missing (a fresh or restarted Redis), then read. */
  const readEpoch = async () => {
    try {
      if (!readonly) await client.set(epochKey, String(Math.floor(Date.now() / 1000) * 1000), 'NX');
    } catch (err) {
      if (!/^READONLY/.test((err as Error).message)) throw err;
      setReadonly(true);
    }
    const value = Number(await client.get(epochKey));
    if (!Number.isSafeInteger(value) || value <= 0) return;
    if (epoch !== undefined && value !== epoch) {
      log.warn({ redis: where }, 'redis lost its data (restarted without persistence?): web UI sessions issued before now are ended');
    }
    epoch = value;
  };
  // On each (re)connection: the role and the epoch, before the connection counts as up.
  const connected = async () => {
    await checkRole();
    try {
      await readEpoch();
    } catch (err) {
      log.debug({ redis: where, error: (err as Error).message }, 'redis epoch not read');
    }
  };
  // The reason a connection ended (ECONNREFUSED, WRONGPASS...), for the warning.
  let lastError: string | undefined;
  client.on('ready', () => {
    lastError = undefined;
    void connected().then(markUp);
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
    await connected();
    markUp();
  } catch (err) {
    markDown((err as Error).message);
  }
  return {
    client,
    prefix: settings.prefix,
    usable: () => down === undefined && !doubted && !readonly && client.status === 'ready',
    epoch: () => epoch,
    failed(err) {
      const message = err instanceof Error ? err.message : String(err);
      if (err instanceof Error && err.name === 'ReplyError' && /^READONLY/.test(message)) return setReadonly(true);
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
    status: () => (down !== undefined || client.status !== 'ready' ? REDIS_UNREACHABLE : readonly ? REDIS_READONLY : undefined),
    async close() {
      closing = true;
      clearInterval(probe);
      clearInterval(roleProbe);
      await Promise.race([client.quit().catch(() => {}), new Promise((r) => setTimeout(r, 1000).unref())]);
      client.disconnect();
    },
  };
}
