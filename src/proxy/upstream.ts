// The upstream registry: one http-proxy-3 instance over an explicit
// keep-alive agent (without one, http-proxy opens a connection per request).
import http from 'node:http';
import https from 'node:https';
import { createProxyServer, type ProxyServer } from 'http-proxy-3';
import { metrics } from '../metrics/metrics.js';
import { createPool, type Pool } from './pool.js';

export interface Upstream {
  url: URL;
  origin: string;
  agent: http.Agent;
  /** The agent's sockets as slots with a bounded wait: proxied requests and the gateway's own take one each. */
  pool: Pool;
  proxy: ProxyServer;
  /** A small request of the gateway's own (catalog, health), body read in full. */
  /** `probe`: over a separate small pool, so that health checks answer even when the main pool is busy. */
  /** `maxBytes`: a longer body is not read (the request is cut; rejects with code TOO_LARGE). */
  get(
    path: string, headers?: http.OutgoingHttpHeaders, timeoutMs?: number, probe?: boolean, maxBytes?: number,
  ): Promise<UpstreamAnswer>;
  /** The same for another method: HEAD (no body read) or DELETE (the web UI's). */
  send(method: 'HEAD' | 'DELETE', path: string, headers?: http.OutgoingHttpHeaders, timeoutMs?: number): Promise<UpstreamAnswer>;
  /** A PUT of the gateway's own with its whole body (the referrers fallback index); the answer is read as by get. */
  put(path: string, body: Buffer, headers?: http.OutgoingHttpHeaders, timeoutMs?: number): Promise<UpstreamAnswer>;
  close(): void;
}

/** The most the gateway reads of an answer of its own asking. */
const MAX_ANSWER = 16 * 1024 * 1024;

export interface UpstreamAnswer { status: number; headers: http.IncomingHttpHeaders; body: Buffer }

/** How the gateway reaches an https upstream, and the credential it adds to every request (src/proxy/upstreamClient.ts). */
export interface UpstreamAccess {
  /** TLS options of the agents: ca, cert, key (PEM). */
  tls?: { ca?: string; cert?: string; key?: string };
  /** The Authorization header the upstream gets on every request instead of the client's. */
  authorization?: string;
}

export function createUpstream(target: string, idleMs: number, maxSockets = 256, access: UpstreamAccess = {}): Upstream {
  const url = new URL(target);
  const Agent = url.protocol === 'https:' ? https.Agent : http.Agent;
  const tls = url.protocol === 'https:' ? access.tls ?? {} : {};
  const agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: 32, scheduling: 'lifo', timeout: idleMs, ...tls });
  const probeAgent = new Agent({ keepAlive: true, maxSockets: 2, maxFreeSockets: 1, timeout: 10_000, ...tls });
  const credential = access.authorization ? { authorization: access.authorization } : {};
  const pool = createPool(maxSockets);
  const proxy = createProxyServer({
    target: url.origin,
    agent,
    xfwd: false, // set by the passes instead: http-proxy appends to client values
    changeOrigin: false, // keep Host: the registry builds upload URLs from it
    proxyTimeout: idleMs, // idle time on the upstream socket, not a total
    followRedirects: false,
    ws: false,
    // Over whatever the client's request carried: the upstream sees the gateway's credential only.
    ...(access.authorization ? { headers: credential } : {}),
  });
  const client = url.protocol === 'https:' ? https : http;
  const call = async (
    method: string, path: string, headers: http.OutgoingHttpHeaders, timeoutMs: number, probe: boolean, maxBytes = MAX_ANSWER,
    body?: Buffer,
  ) => {
    // Probes have their own agent; the rest wait for a slot of the pool as long as for an answer.
    const release = probe ? () => {} : await pool.acquire(timeoutMs);
    if (!release) throw Object.assign(new Error(`no upstream socket free within ${timeoutMs} ms`), { code: 'POOL_TIMEOUT' });
    return new Promise<UpstreamAnswer>((resolve, reject) => {
      const options = { method, agent: probe ? probeAgent : agent, headers: { ...headers, ...credential }, timeout: timeoutMs };
      const tooLarge = () => Object.assign(new Error(`upstream answer larger than ${maxBytes} bytes`), { code: 'TOO_LARGE' });
      const req = client.request(new URL(path, url.origin), options, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        // Known too large from its header: not a byte of it is read.
        if (Number(res.headers['content-length'] ?? 0) > maxBytes) {
          req.destroy(tooLarge());
          return;
        }
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > maxBytes) req.destroy(tooLarge());
          else chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    }).catch((err: unknown) => {
      // Too large is the gateway's own limit, not the upstream failing.
      if ((err as NodeJS.ErrnoException).code !== 'TOO_LARGE') metrics.upstreamError(err);
      throw err;
    }).finally(release);
  };
  return {
    url,
    origin: url.origin,
    agent,
    pool,
    proxy,
    get: (path, headers = {}, timeoutMs = 10_000, probe = false, maxBytes = MAX_ANSWER) =>
      call('GET', path, headers, timeoutMs, probe, maxBytes),
    send: (method, path, headers = {}, timeoutMs = 10_000) => call(method, path, headers, timeoutMs, false),
    put: (path, body, headers = {}, timeoutMs = 10_000) =>
      call('PUT', path, { ...headers, 'content-length': String(body.length) }, timeoutMs, false, MAX_ANSWER, body),
    close() {
      proxy.close?.();
      agent.destroy();
      probeAgent.destroy();
    },
  };
}
