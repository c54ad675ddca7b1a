// Caps on client connections, enforced before TLS. Every accepted socket holds
// a descriptor, and once its first bytes arrive Node and OpenSSL give it about
// 55 KiB of buffers (measured) that stay until it closes, and that glibc keeps
// after a flood. Without caps, 20,000 sockets that never finished TLS took
// every descriptor, so no client could connect, and left the heap at 1.6 GiB.
// Hence: a per-address cap so one host cannot take everyone's share, a global
// cap below the descriptor limit so upstream sockets and files always have
// room, a short handshake limit, and no TLS state for a socket that has sent
// nothing yet: an idle one then costs ~4 KiB instead of ~15 KiB, and its
// close nothing instead of ~40 KiB (closing starts a read into TLS buffers).
// Behind a load balancer in proxyProtocol.trusted, the per-address cap counts
// the client its PROXY header names (proxyProtocol.ts), once the header is in.
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { Server } from 'node:tls';
import type { Config } from '../config/config.js';
import { addressKey, plainAddress } from '../util/address.js';
import { cidrMatcher } from '../util/cidr.js';
import { setClientAddress } from '../util/clientAddress.js';
import { edgeMetrics, type ProxyRefusal } from '../metrics/edge.js';
import { looksLikeHeader, readHeader } from './proxyProtocol.js';
import type { Logger } from '../util/log.js';
import { metrics } from '../metrics/metrics.js';

/** Descriptors kept for what is not a socket: logs, watchers, worker threads, the event loop. */
export const FILE_HEADROOM = 64;
export const MIN_CONNECTIONS = 64;
/** Assumed when /proc/self/limits cannot be read: the usual soft limit. */
export const FALLBACK_OPEN_FILES = 1024;
const WARN_EVERY_MS = 60_000;

/** The soft "Max open files" from /proc/self/limits text, or undefined. */
export function parseMaxOpenFiles(text: string): number | undefined {
  const m = /^Max open files\s+(\S+)\s+\S+/m.exec(text);
  if (!m) return undefined;
  if (m[1] === 'unlimited') return Number.MAX_SAFE_INTEGER;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/** This process's descriptor limit (Node raised soft to hard at start). */
export function openFilesLimit(read: () => string = () => readFileSync('/proc/self/limits', 'utf8')): { limit: number; known: boolean } {
  let parsed: number | undefined;
  try {
    parsed = parseMaxOpenFiles(read());
  } catch {
    parsed = undefined;
  }
  return parsed === undefined ? { limit: FALLBACK_OPEN_FILES, known: false } : { limit: parsed, known: true };
}

export interface ConnectionCap {
  cap: number;
  /** What the descriptor limit leaves for client connections. */
  fits: number;
  warning?: string;
}

export function connectionCap(setting: Config['limits']['connections'], openFiles: number, upstreamSockets: number): ConnectionCap {
  const fits = Math.max(MIN_CONNECTIONS, openFiles - upstreamSockets - FILE_HEADROOM);
  if (setting === 'auto' || setting <= fits) return { cap: setting === 'auto' ? fits : setting, fits };
  const need = setting + upstreamSockets + FILE_HEADROOM;
  return {
    cap: setting,
    fits,
    warning: `limits.connections is ${setting}, but ${openFiles} open files leave room for ${fits} `
      + `after ${upstreamSockets} upstream sockets and ${FILE_HEADROOM} files: past that, accepting fails for everyone. `
      + `Raise the limit to ${need} (ulimit -n ${need}, or LimitNOFILE=${need} in the systemd unit) or set limits.connections to 'auto'`,
  };
}

export interface AddressCounter {
  /** Counts a connection from key; false, and nothing counted, when key already has `limit`. */
  take(key: string): boolean;
  release(key: string): void;
  count(key: string): number;
  /** Keys with connections (entries are dropped at zero, so this stays small). */
  readonly size: number;
}

export function addressCounter(limit: number): AddressCounter {
  const counts = new Map<string, number>();
  return {
    take(key) {
      const n = counts.get(key) ?? 0;
      if (n >= limit) return false;
      counts.set(key, n + 1);
      return true;
    },
    release(key) {
      const n = counts.get(key) ?? 0;
      if (n <= 1) counts.delete(key);
      else counts.set(key, n - 1);
    },
    count: (key) => counts.get(key) ?? 0,
    get size() {
      return counts.size;
    },
  };
}

/** True at most once per key per interval: a flood must not become a flood of log lines. */
export function oncePer(intervalMs: number, now: () => number = Date.now): (key: string) => boolean {
  const last = new Map<string, number>();
  return (key) => {
    const t = now();
    const prev = last.get(key);
    if (prev !== undefined && t - prev < intervalMs) return false;
    if (last.size >= 1024) for (const [k, v] of last) if (t - v >= intervalMs) last.delete(k);
    last.set(key, t);
    return true;
  };
}

export interface ConnectionGuard {
  /** Ends sockets that have not started TLS: server.close() would wait for them. */
  close(): void;
}

/**
 * Wraps tls.Server's own 'connection' listener (the one that creates the TLS
 * state) so that it runs only for counted sockets and only once they send.
 */
export function guardConnections(
  server: Server, config: Pick<Config, 'limits' | 'timeouts' | 'proxyProtocol'>, log: Logger,
): ConnectionGuard {
  const listeners = server.listeners('connection');
  if (listeners.length !== 1) throw new Error(`expected tls.Server's one 'connection' listener, found ${listeners.length}`);
  const startTls = listeners[0] as (this: Server, socket: Socket) => void;
  server.removeAllListeners('connection');

  const { limit: openFiles, known } = openFilesLimit();
  const { cap, fits, warning } = connectionCap(config.limits.connections, openFiles, config.limits.upstreamSockets);
  if (!known) log.warn({ assumed: FALLBACK_OPEN_FILES }, 'cannot read the open files limit (/proc/self/limits); assuming the usual one');
  if (warning) log.warn(warning);
  server.maxConnections = cap;
  const perAddress = config.limits.connectionsPerAddress;
  const handshakeMs = config.timeouts.handshake * 1000;
  const handshakeTimeout = config.timeouts.handshake;
  log.info({ connections: cap, connectionsPerAddress: perAddress, openFiles, fits, handshakeTimeout }, 'connection limits');

  const warnOnce = oncePer(WARN_EVERY_MS);
  server.on('drop', () => {
    metrics.connectionRefused('connections');
    if (warnOnce('*')) log.warn({ limit: cap }, 'client connections at limits.connections: refusing new ones');
  });
  const counter = addressCounter(perAddress);
  const waiting = new Set<Socket>();
  const proxy = config.proxyProtocol;
  const trusted = proxy ? cidrMatcher(proxy.trusted) : () => false;
  if (proxy) log.info({ trusted: proxy.trusted, required: proxy.required }, 'PROXY protocol from trusted peers');
  /** Counts a connection under the client's address; false (and the socket destroyed) over the cap. */
  const take = (raw: Socket, client: string): boolean => {
    const key = addressKey(client);
    if (!counter.take(key)) {
      raw.destroy();
      metrics.connectionRefused('connectionsPerAddress');
      if (warnOnce(key)) {
        log.warn({ address: key, limit: perAddress }, 'connections from one address at limits.connectionsPerAddress: refusing more');
      }
      return false;
    }
    raw.once('close', () => counter.release(key));
    return true;
  };
  const refuse = (raw: Socket, reason: ProxyRefusal, peer: string, detail: string) => {
    raw.destroy();
    edgeMetrics.proxyRefused(reason);
    if (warnOnce(`proxy:${reason}:${peer}`)) log.warn({ peer, reason, detail }, 'PROXY protocol: connection refused');
  };
  server.on('connection', (raw: Socket) => {
    const peer = plainAddress(raw.remoteAddress);
    // A trusted peer (a load balancer) speaks for many clients: counted per client once its header names one.
    const fromBalancer = trusted(peer);
    if (!fromBalancer && !take(raw, peer)) return;
    waiting.add(raw);
    const drop = () => raw.destroy();
    raw.setTimeout(handshakeMs, drop);
    raw.on('error', drop);
    let header = !fromBalancer; // true once past the PROXY header (or none is expected)
    let held = Buffer.alloc(0);
    const onReadable = () => {
      // readable with nothing buffered is the end of the stream: closed before a ClientHello.
      if (raw.destroyed || (raw.readableLength === 0 && held.length === 0)) return void raw.destroy();
      if (!header) {
        const chunk = raw.read() as Buffer | null;
        held = chunk ? Buffer.concat([held, chunk]) : held;
        const got = readHeader(held);
        if (got.kind === 'incomplete') return void raw.once('readable', onReadable);
        if (got.kind === 'invalid') return refuse(raw, 'invalid', peer, got.reason);
        if (got.kind === 'none' && proxy!.required) {
          return refuse(raw, 'missing', peer, 'a trusted peer sent no PROXY header (proxyProtocol.required)');
        }
        const client = got.kind === 'header' ? got.source ?? peer : peer;
        if (!take(raw, client)) return;
        if (got.kind === 'header' && got.source !== undefined) setClientAddress(raw, got.source);
        const rest = got.kind === 'header' ? held.subarray(got.length) : held;
        held = Buffer.alloc(0);
        header = true;
        if (rest.length > 0) raw.unshift(rest);
        else return void raw.once('readable', onReadable); // the ClientHello is yet to come
      } else if (proxy && !fromBalancer) {
        // A client claiming another's address: refused, not left to fail as a bad ClientHello, so it is counted.
        const first = raw.read() as Buffer | null;
        if (first && looksLikeHeader(first)) {
          return refuse(raw, 'untrusted', peer, 'a PROXY header from an address not in proxyProtocol.trusted');
        }
        if (first) raw.unshift(first);
      }
      waiting.delete(raw);
      raw.setTimeout(0);
      raw.off('timeout', drop);
      raw.off('error', drop);
      startTls.call(server, raw);
    };
    raw.once('readable', onReadable);
    raw.once('close', () => waiting.delete(raw));
  });
  return {
    close() {
      for (const s of waiting) s.destroy();
    },
  };
}
