// The upstream registry: one http-proxy-3 instance over an explicit
// keep-alive agent (without one, http-proxy opens a connection per request).
import http from 'node:http';
import https from 'node:https';
import { createProxyServer, type ProxyServer } from 'http-proxy-3';

export interface Upstream {
  url: URL;
  origin: string;
  agent: http.Agent;
  proxy: ProxyServer;
  /** A small request of the gateway's own (catalog, health), body read in full. */
  get(path: string, headers?: http.OutgoingHttpHeaders, timeoutMs?: number): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>;
  close(): void;
}

export function createUpstream(target: string, idleMs: number): Upstream {
  const url = new URL(target);
  const Agent = url.protocol === 'https:' ? https.Agent : http.Agent;
  const agent = new Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 32, scheduling: 'lifo', timeout: idleMs });
  const proxy = createProxyServer({
    target: url.origin,
    agent,
    xfwd: false, // set by the passes instead: http-proxy appends to client values
    changeOrigin: false, // keep Host: the registry builds upload URLs from it
    proxyTimeout: idleMs, // idle time on the upstream socket, not a total
    followRedirects: false,
    ws: false,
  });
  const client = url.protocol === 'https:' ? https : http;
  return {
    url,
    origin: url.origin,
    agent,
    proxy,
    get(path, headers = {}, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const req = client.request(new URL(path, url.origin), { method: 'GET', agent, headers, timeout: timeoutMs }, (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > 16 * 1024 * 1024) req.destroy(new Error('upstream answer too large'));
            else chunks.push(c);
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        });
        req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
        req.on('error', reject);
        req.end();
      });
    },
    close() {
      proxy.close?.();
      agent.destroy();
    },
  };
}
