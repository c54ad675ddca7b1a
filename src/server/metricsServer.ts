// `metrics.listen`: Prometheus' /metrics, and the probes for convenience, on
// a plain-HTTP listener of their own (loopback by default), apart from the
// registry's clients: scraping needs no certificate, no credentials, and is
// not counted as registry traffic. Under --workers it runs in the primary,
// which sums the workers' metrics (workerQueries.ts).
import http from 'node:http';
import { isIP, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { fail } from '../errors.js';
import { metrics } from '../metrics/metrics.js';
import { answerProbe, isProbePath, type Probes } from '../metrics/probes.js';
import type { Logger } from '../util/log.js';
import { bind, listenAddress } from './listen.js';
import { askWorkers } from './workerQueries.js';

export interface MetricsText {
  contentType: string;
  text(): Promise<string>;
}

/** This process's registry. */
export const processMetrics = (): MetricsText => ({
  contentType: metrics.registry.contentType,
  text: () => metrics.registry.metrics(),
});

/** How long the primary waits for the workers' metrics: well inside Prometheus' 10 s scrape timeout. */
export const WORKER_ANSWER_MS = 2000;

/**
 * The primary's: every worker's registry and its own (process metrics),
 * aggregated by each metric's rule: counters and histograms summed, the
 * certificate gauges by minimum.
 */
export const clusterMetrics = (): MetricsText => ({
  contentType: metrics.registry.contentType,
  async text() {
    const workers = (await askWorkers('metrics', WORKER_ANSWER_MS)) as MetricObjectWithValues<MetricValue<string>>[][];
    return AggregatorRegistry.aggregate([...workers, await metrics.registry.getMetricsAsJSON()]).metrics();
  },
});

/**
 * The Hosts a scraper may send: the listen address (every address of this
 * machine when it listens on all), loopback, $POD_IP and `metrics.hosts`.
 * A name outside these is what a DNS-rebinding page would send.
 */
export function metricsHosts(listenHost: string, extra: readonly string[], env = process.env): Set<string> {
  const wildcard = listenHost === '::' || listenHost === '0.0.0.0' || listenHost === '';
  const own = wildcard ? Object.values(networkInterfaces()).flat().map((i) => i!.address) : [listenHost];
  const names = [...own, '127.0.0.1', '::1', ...(env.POD_IP ? [env.POD_IP] : []), ...extra];
  return new Set(names.map((n) => n.replace(/^\[|\]$/g, '').toLowerCase()));
}

/** The host part of a Host header, lowercased, without brackets or port; undefined when malformed. */
function hostOf(header: string | undefined): string | undefined {
  const m = header === undefined ? null : /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+))(?::\d{1,5})?$/.exec(header);
  if (!m) return undefined;
  const name = (m[1] ?? m[2]!).toLowerCase();
  return m[1] !== undefined && isIP(name) !== 6 ? undefined : name;
}

export interface MetricsServer {
  /** host:port it listens on (the port resolved when 0 was asked). */
  address: string;
  close(): Promise<void>;
}

export async function startMetricsServer(
  listen: string, source: MetricsText, probes: () => Probes, log: Logger, extraHosts: readonly string[] = ['localhost'],
): Promise<MetricsServer> {
  const { host, port } = await listenAddress(listen);
  const hosts = metricsHosts(host, extraHosts);
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    void (async () => {
      try {
        const asked = hostOf(req.headers.host);
        if (asked === undefined || !hosts.has(asked)) {
          res.writeHead(421, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
          res.end(`Host '${req.headers.host ?? ''}' is not an address of this metrics listener: `
            + 'scrape it by address, or add the name to metrics.hosts\n');
        } else if (path === '/metrics') {
          const body = await source.text();
          res.writeHead(200, { 'Content-Type': source.contentType, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
          res.end(req.method === 'HEAD' ? undefined : body);
        } else if (isProbePath(path)) {
          await answerProbe(req, res, path, probes());
        } else {
          res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
          res.end('not found: this listener serves /metrics, /livez, /readyz and /startupz\n');
        }
      } catch (err) {
        log.error({ error: (err as Error).message, path }, 'metrics request failed');
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('metrics unavailable\n');
      }
    })();
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  try {
    await bind(server, host, port);
  } catch (err) {
    return fail('LISTEN_FAILED', `cannot listen for metrics on ${listen}: ${(err as Error).message}; ` +
      "choose another address with --metrics or 'metrics.listen' in the config, or remove 'metrics:' to turn metrics off");
  }
  const bound = server.address() as { address: string; port: number };
  const address = `${bound.address.includes(':') ? `[${bound.address}]` : bound.address}:${bound.port}`;
  log.info({ metrics: address }, 'metrics listening');
  return {
    address,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      // A scraper keeps its connection open between scrapes: nothing is in flight worth waiting for.
      for (const s of sockets) s.destroy();
    }),
  };
}
