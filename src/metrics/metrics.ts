// The Prometheus metrics, defined in one place with prom-client. Every name
// starts with one prefix and ends in its unit (`_seconds`, `_bytes`,
// `_total` for counters), per Prometheus' naming conventions. Labels are
// small closed sets (a method, an action, a status code, a reason): never a
// repository, a user or an address, which would give every new name its
// own series and let any client grow the gateway's memory and the
// Prometheus server's.
//
// A ground module: the request path, the auth modes and the server record
// into `metrics` and import nothing upward. Values computed at scrape time
// (open connections, certificate lifetimes) come from sources the server
// adds while it runs.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const PREFIX = 'registry_gateway_';

/** What a request was: its registry action, or which of the gateway's own paths. */
export const REQUEST_ACTIONS = ['pull', 'push', 'delete', 'catalog', 'token', 'trust', 'ui', 'health', 'other'] as const;
export type RequestAction = (typeof REQUEST_ACTIONS)[number];

/**
 * Why a request was challenged or refused. `missing` is every client's first
 * request (it asks for a challenge before sending credentials): alert on
 * `bad_password` and `token_invalid`, not on the total.
 */
export const AUTH_FAILURE_REASONS = [
  'missing', 'malformed', 'bad_password', 'token_invalid', 'token_expired', 'insufficient_scope', 'refresh_invalid', 'denied',
] as const;
export type AuthFailureReason = (typeof AUTH_FAILURE_REASONS)[number];

/** Which limit answered 429: the failed-login throttles, or a share of the upstream (limits.*). */
export const THROTTLE_LIMITS = ['logins', 'upstreamPerAddress', 'upstreamPerAccount', 'upstreamAnonymous', 'upstreamSockets'] as const;
export type ThrottleLimit = (typeof THROTTLE_LIMITS)[number];

/**
 * Why a TLS handshake failed, as the client's alert or OpenSSL's error says:
 * `unknown_ca` is a node that does not trust the CA (a missed rollover),
 * `protocol_version` an old client, `no_certificate` a client without its
 * certificate where tls.clientCA asks for one.
 */
export const TLS_FAILURE_REASONS = ['unknown_ca', 'bad_certificate', 'protocol_version', 'no_certificate', 'timeout', 'other'] as const;
export type TlsFailureReason = (typeof TLS_FAILURE_REASONS)[number];

/** OpenSSL's codes (as Node names them) as a reason; `code` is the error's code, `message` its text. */
export function tlsFailureReason(err: unknown): TlsFailureReason {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const text = `${typeof e?.code === 'string' ? e.code : ''} ${typeof e?.message === 'string' ? e.message : ''}`.toUpperCase();
  if (/UNKNOWN_CA|UNABLE_TO_GET_ISSUER|SELF_SIGNED/.test(text)) return 'unknown_ca';
  if (/PEER_DID_NOT_RETURN_A_CERTIFICATE|CERTIFICATE_REQUIRED/.test(text)) return 'no_certificate';
  if (/PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|WRONG_VERSION_NUMBER|NO_PROTOCOLS_AVAILABLE|VERSION_TOO_LOW/.test(text)) {
    return 'protocol_version';
  }
  if (/BAD_CERTIFICATE|CERTIFICATE_(UNKNOWN|EXPIRED|REVOKED)|UNSUPPORTED_CERTIFICATE/.test(text)) return 'bad_certificate';
  if (/HANDSHAKE_TIMEOUT|TIMED OUT/.test(text)) return 'timeout';
  return 'other';
}

/** Which cap refused a client connection before TLS (server/connections.ts). */
export const CONNECTION_LIMITS = ['connections', 'connectionsPerAddress'] as const;
export type ConnectionLimit = (typeof CONNECTION_LIMITS)[number];

/** What failed to reload: the server certificate, /trust/'s CAs, the token keys, gateway.yaml. */
export const RELOADS = ['tls', 'trust', 'token', 'config'] as const;
export type Reload = (typeof RELOADS)[number];

/** Why failed-login limits are counted per process: Redis unreachable, or a read-only replica (after a failover). */
export const REDIS_FALLBACKS = ['unreachable', 'readonly'] as const;
export type RedisFallback = (typeof REDIS_FALLBACKS)[number];

/**
 * What a request moves, for latency objectives: a manifest (small, the
 * objective's), a blob transfer (minutes are normal), anything else (small).
 */
export const REQUEST_KINDS = ['manifest', 'blob', 'other'] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

/** Who wrote the answer: the gateway itself, or the upstream (relayed). Tells the gateway's 5xx from the registry's. */
export type AnswerSource = 'gateway' | 'upstream';

export const UPSTREAM_ERROR_KINDS = ['connect_refused', 'timeout', 'reset', 'dns', 'unreachable', 'tls', 'other'] as const;
export type UpstreamErrorKind = (typeof UPSTREAM_ERROR_KINDS)[number];

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** A method as a label: the registry API's, else `other` (Node parses some 30 more). */
export const methodLabel = (method: string | undefined): string => (method && METHODS.has(method) ? method : 'other');

/** Node's error codes, as a few kinds an operator acts on differently. */
export function upstreamErrorKind(err: unknown): UpstreamErrorKind {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : '';
  if (code === 'ECONNREFUSED') return 'connect_refused';
  if (code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || /^no answer within/.test(message)) {
    return 'timeout';
  }
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED') return 'reset';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'dns';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EADDRNOTAVAIL') return 'unreachable';
  if (code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) return 'tls';
  return 'other';
}

/**
 * Small API calls take milliseconds; blob transfers take minutes: buckets
 * from 5 ms to an hour, so both have resolution.
 */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

/** One finished request, as the access log sees it when the response closes. */
export interface RequestRecord {
  method: string | undefined;
  action: RequestAction;
  /** manifest, blob or other (the duration's `kind`); default other. */
  kind?: RequestKind | undefined;
  /** Who answered (the requests' `source`); default gateway. */
  source?: AnswerSource | undefined;
  status: number;
  seconds: number;
  /** Bytes read from and written to the client connection during the request. */
  received: number;
  sent: number;
}

/** What a running gateway reports at scrape time. */
export interface GaugeSource {
  /** Client connections open now (TLS or still waiting for a ClientHello). */
  connections(): number | Promise<number>;
  /** notAfter of the certificates in use now: they change on reload, renewal and rollover. */
  certificates(): { server?: Date | undefined; ca?: Date | undefined };
}

export interface Metrics {
  registry: Registry;
  request(r: RequestRecord): void;
  /** A request started; the returned function ends it (called once the response closes). */
  started(): () => void;
  authFailure(reason: AuthFailureReason): void;
  throttled(limit: ThrottleLimit): void;
  tokenIssued(type: 'access' | 'refresh'): void;
  upstreamError(err: unknown): void;
  tlsHandshakeFailure(reason: TlsFailureReason): void;
  connectionRefused(limit: ConnectionLimit): void;
  reloadFailed(what: Reload): void;
  /** Where failed logins are counted now: in Redis (undefined), or per process and why. */
  redisFallback(reason: RedisFallback | undefined): void;
  /** registry_gateway_build_info: 1, with the version, the source revision and Node.js's version as labels. */
  buildInfo(version: string, revision: string): void;
  /** Adds a source of the scrape-time gauges; returns the function that removes it. */
  addSource(source: GaugeSource): () => void;
  /** Process and Node.js metrics (CPU, memory, event loop lag, GC), under the same prefix; once. */
  collectDefaults(): void;
}

export function createMetrics(registry = new Registry()): Metrics {
  const registers = [registry];
  const sources = new Set<GaugeSource>();
  const requests = new Counter({
    name: `${PREFIX}requests_total`,
    help: 'Requests answered, by method, action (pull, push, delete, catalog, token, trust, health, other), status code, '
      + 'and source: gateway (its own answer, e.g. a 503 when the upstream is unreachable) or upstream (the registry\'s, relayed).',
    labelNames: ['method', 'action', 'code', 'source'] as const,
    registers,
  });
  const duration = new Histogram({
    name: `${PREFIX}request_duration_seconds`,
    help: 'Time from the request headers to the end of the response, by action and kind: manifest, blob (a transfer: '
      + 'blob reads, upload chunks) or other (small API calls).',
    labelNames: ['action', 'kind'] as const,
    buckets: DURATION_BUCKETS,
    registers,
  });
  const received = new Counter({
    name: `${PREFIX}received_bytes_total`,
    help: 'Bytes read from client connections (TLS records, headers and bodies), by action.',
    labelNames: ['action'] as const,
    registers,
  });
  const sent = new Counter({
    name: `${PREFIX}sent_bytes_total`,
    help: 'Bytes written to client connections (TLS records, headers and bodies), by action.',
    labelNames: ['action'] as const,
    registers,
  });
  const inFlight = new Gauge({
    name: `${PREFIX}requests_in_flight`,
    help: 'Requests being answered now.',
    registers,
  });
  const upstreamErrors = new Counter({
    name: `${PREFIX}upstream_errors_total`,
    help: 'Requests to the upstream registry that failed without an answer, by kind.',
    labelNames: ['kind'] as const,
    registers,
  });
  const authFailures = new Counter({
    name: `${PREFIX}auth_failures_total`,
    help: 'Requests challenged or refused by authentication or the access rules, by reason.',
    labelNames: ['reason'] as const,
    registers,
  });
  const throttled = new Counter({
    name: `${PREFIX}throttled_requests_total`,
    help: 'Requests answered 429, by the limit that refused them.',
    labelNames: ['limit'] as const,
    registers,
  });
  const tokens = new Counter({
    name: `${PREFIX}tokens_issued_total`,
    help: 'Tokens issued by /token, by type (access, refresh).',
    labelNames: ['type'] as const,
    registers,
  });
  const tlsFailures = new Counter({
    name: `${PREFIX}tls_handshake_failures_total`,
    help: 'TLS handshakes that failed, by reason: unknown_ca (the client does not trust the CA: a missed rollover), '
      + 'bad_certificate, protocol_version, no_certificate (tls.clientCA), timeout, other.',
    labelNames: ['reason'] as const,
    registers,
  });
  const refused = new Counter({
    name: `${PREFIX}connections_refused_total`,
    help: 'Client connections closed before TLS by a cap, by limit: connections (limits.connections), connectionsPerAddress.',
    labelNames: ['limit'] as const,
    registers,
  });
  const reloadFailures = new Counter({
    name: `${PREFIX}reload_failures_total`,
    help: 'Reloads that failed (the gateway kept what it had), by what: tls, trust, token, config.',
    labelNames: ['what'] as const,
    registers,
  });
  const redisFallback = new Gauge({
    name: `${PREFIX}redis_fallback`,
    help: '1 while failed-login limits are counted per process instead of in Redis, by reason: unreachable, '
      + 'readonly (a read-only replica, after a failover); 0 otherwise.',
    labelNames: ['reason'] as const,
    // Workers each see the same Redis: one worker falling back is enough to show.
    aggregator: 'max',
    registers,
  });
  const buildInfo = new Gauge({
    name: `${PREFIX}build_info`,
    help: 'Always 1: the version, source revision and Node.js version (node) of the running gateway.',
    labelNames: ['version', 'revision', 'node'] as const,
    aggregator: 'max',
    registers,
  });
  new Gauge({
    name: `${PREFIX}open_connections`,
    help: 'Client connections open now.',
    registers,
    async collect() {
      let total = 0;
      for (const s of sources) total += await s.connections();
      this.set(total);
    },
  });
  new Gauge({
    name: `${PREFIX}certificate_remaining_seconds`,
    help: 'Seconds until the certificate in use expires (notAfter), by certificate: server, ca. Negative once expired.',
    labelNames: ['certificate'] as const,
    // Workers load the same files; a lagging one (mid-reload) must not hide an expiry.
    aggregator: 'min',
    collect() {
      this.reset();
      const now = Date.now();
      for (const kind of ['server', 'ca'] as const) {
        const ends = [...sources].map((s) => s.certificates()[kind]).filter((d): d is Date => d !== undefined);
        if (ends.length > 0) this.set({ certificate: kind }, (Math.min(...ends.map((d) => d.getTime())) - now) / 1000);
      }
    },
    registers,
  });
  // Every label value is known: zeros from the start, so rate() and alerts see the series before the first event.
  for (const reason of AUTH_FAILURE_REASONS) authFailures.inc({ reason }, 0);
  for (const limit of THROTTLE_LIMITS) throttled.inc({ limit }, 0);
  for (const kind of UPSTREAM_ERROR_KINDS) upstreamErrors.inc({ kind }, 0);
  for (const type of ['access', 'refresh']) tokens.inc({ type }, 0);
  for (const reason of TLS_FAILURE_REASONS) tlsFailures.inc({ reason }, 0);
  for (const limit of CONNECTION_LIMITS) refused.inc({ limit }, 0);
  for (const what of RELOADS) reloadFailures.inc({ what }, 0);
  let defaults = false;

  return {
    registry,
    request(r) {
      requests.inc({ method: methodLabel(r.method), action: r.action, code: String(r.status), source: r.source ?? 'gateway' });
      duration.observe({ action: r.action, kind: r.kind ?? 'other' }, r.seconds);
      received.inc({ action: r.action }, r.received);
      sent.inc({ action: r.action }, r.sent);
    },
    started() {
      inFlight.inc();
      let done = false;
      return () => {
        if (done) return;
        done = true;
        inFlight.dec();
      };
    },
    authFailure: (reason) => authFailures.inc({ reason }),
    throttled: (limit) => throttled.inc({ limit }),
    tokenIssued: (type) => tokens.inc({ type }),
    upstreamError: (err) => upstreamErrors.inc({ kind: upstreamErrorKind(err) }),
    tlsHandshakeFailure: (reason) => tlsFailures.inc({ reason }),
    connectionRefused: (limit) => refused.inc({ limit }),
    reloadFailed: (what) => reloadFailures.inc({ what }),
    redisFallback(reason) {
      for (const r of REDIS_FALLBACKS) redisFallback.set({ reason: r }, r === reason ? 1 : 0);
    },
    buildInfo(version, revision) {
      buildInfo.reset();
      buildInfo.set({ version, revision, node: process.version }, 1);
    },
    addSource(source) {
      sources.add(source);
      return () => sources.delete(source);
    },
    collectDefaults() {
      if (defaults) return;
      defaults = true;
      collectDefaultMetrics({ register: registry, prefix: PREFIX });
    },
  };
}

/** The process's metrics: what `/metrics` serves (under --workers, each worker's, summed by the primary). */
export const metrics = createMetrics();
