// Metrics of the gateway's edges, apart from metrics.ts so that they are
// added without touching its list: the upstream's state for alerting (the
// readiness probe no longer reports it, so that a registry restart does not
// empty the Service), and connections refused for their PROXY header.
import { Counter, Gauge } from 'prom-client';
import { metrics, PREFIX } from './metrics.js';

export const PROXY_REFUSALS = ['untrusted', 'missing', 'invalid'] as const;
export type ProxyRefusal = (typeof PROXY_REFUSALS)[number];

/** Each gateway's way to tell whether its upstream answers now (cached by the readiness check it shares). */
const upstreams = new Set<() => Promise<boolean>>();

new Gauge({
  name: `${PREFIX}upstream_up`,
  help: 'Whether the upstream registry answers /v2/ (1) or not (0), as the readiness check sees it (cached for a second).',
  // Workers ask the same upstream; one that cannot reach it must show.
  aggregator: 'min',
  registers: [metrics.registry],
  async collect() {
    this.reset();
    if (upstreams.size === 0) return;
    const answers = await Promise.all([...upstreams].map((up) => up().catch(() => false)));
    this.set(answers.every(Boolean) ? 1 : 0);
  },
});

const refused = new Counter({
  name: `${PREFIX}proxy_protocol_refused_total`,
  help: 'Connections closed for their PROXY header, by reason: untrusted (a header from an address not in ' +
    'proxyProtocol.trusted), missing (a trusted peer sent none, proxyProtocol.required), invalid (malformed or too long).',
  labelNames: ['reason'] as const,
  registers: [metrics.registry],
});
for (const reason of PROXY_REFUSALS) refused.inc({ reason }, 0);

export const edgeMetrics = {
  /** Adds a gateway's upstream check; returns the function that removes it. */
  addUpstream(up: () => Promise<boolean>): () => void {
    upstreams.add(up);
    return () => upstreams.delete(up);
  },
  proxyRefused: (reason: ProxyRefusal) => refused.inc({ reason }),
};
