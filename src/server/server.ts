// Assembles the gateway from a validated config: TLS listener and its
// connection caps, the auth mode (chosen in authModes.ts), the policy, the
// upstream and the request path. Side effects (files, sockets, signals) live
// here and in the CLI, not in the request path.
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { AuthMode } from '../auth/mode.js';
import { policyFor, type Policy } from '../auth/policy.js';
import { createThrottle } from '../auth/throttle.js';
import { DEFAULT_UPSTREAM, type Config } from '../config/config.js';
import { fail } from '../errors.js';
import { clientAddress, createHandler, upstreamReachable } from '../proxy/handler.js';
import { certifiedHost, servedPort } from '../proxy/passes.js';
import { useStreamBuffers } from '../proxy/buffers.js';
import { createShares } from '../proxy/shares.js';
import { createUpstream } from '../proxy/upstream.js';
import { upstreamAccess } from '../proxy/upstreamClient.js';
import { createTrust, trustAddresses, type Trust } from '../trust/endpoint.js';
import type { Logger } from '../util/log.js';
import { AUTH_MODES } from './authModes.js';
import { guardConnections, oncePer } from './connections.js';
import { loadTls, watchTls } from './tls.js';
import { bind, listenAddress, reachableFrom } from './listen.js';
import { swappableTrust } from './swappableTrust.js';
import { watchFiles } from '../util/watchFiles.js';
import { readTrustPem, trustPaths } from '../certs/trustSet.js';
import { sharedThrottle } from './workers.js';
import type { Socket } from 'node:net';
import { clientAddressOf } from '../util/clientAddress.js';
import { metrics, tlsFailureReason } from '../metrics/metrics.js';
import { edgeMetrics } from '../metrics/edge.js';
import { certificateCheck, createHealth, upstreamCheck, type Health } from './health.js';
import { drain, drainableServer, type DrainSettings } from './drain.js';
import { lazyEndpoint } from '../ui/lazy.js';
import { rootRedirect } from '../ui/rootRedirect.js';
import { localRevocations, sharedRevocations } from '../ui/revocations.js';
import { sessionKey } from '../ui/session.js';

export interface Gateway {
  server: https.Server;
  upstream: string;
  trust?: Trust | undefined;
  address: AddressInfo;
  /** SIGHUP: re-reads certificates and token keys; open connections keep theirs. */
  reload(): Promise<void>;
  /** New access rules (gateway.yaml re-read): the next request is decided by them. */
  setAccess(rules: Config['access']): void;
  /** /livez, /startupz, /readyz; `health.checks` is the readiness list. */
  health: Health;
  /** Client connections and requests in flight now. */
  counts(): Promise<{ connections: number; requests: number }>;
  /** SIGTERM (drain.ts): not ready, then stop accepting, let requests finish within the grace period, close. */
  drain(settings: DrainSettings): Promise<{ cut: number; atOnce: boolean }>;
  close(): Promise<void>;
}

export const HEADER_LIMIT = 16 * 1024;

export async function startGateway(config: Config, log: Logger): Promise<Gateway> {
  const tlsPaths = { cert: config.tls.cert, key: config.tls.key, clientCA: config.tls.clientCA };
  const tls = await loadTls(tlsPaths);
  const configured = config.publicUrl ? new URL(config.publicUrl).origin : undefined;
  // The names the current certificate holds: only those Hosts are reflected.
  let certificate = new X509Certificate(String(tls.cert));
  const hostChecks = new Map<string, boolean>();
  const originOf = (req: IncomingMessage) => configured ?? `https://${req.headers.host ?? ''}`;
  // Who may do what is the policy's; who is asking, the auth mode's.
  // Through a variable: a re-read gateway.yaml replaces the rules under everything that holds `policy`.
  let currentPolicy = policyFor(config.access, config.auth.mode);
  const policy: Policy = (account, access) => currentPolicy(account, access);
  // Replicas count failed logins in one Redis when configured (README, Scaling
  // out); otherwise per process, relayed between --workers. Loaded only then:
  // ioredis alone holds about 15 MiB of a gateway's memory.
  const redis = config.redis
    ? { ...await import('../shared/redis.js'), ...await import('../shared/throttle.js'), settings: config.redis }
    : undefined;
  const shared = redis ? await redis.connectShared(redis.settings, log) : undefined;
  let auth: AuthMode;
  try {
    auth = await AUTH_MODES[config.auth.mode]({
      config, policy, log, publicOrigin: originOf, clientAddress,
      throttle: (name, limit, windowMs) => (shared
        ? redis!.createRedisThrottle(shared, name, limit, windowMs, createThrottle(limit, windowMs))
        : sharedThrottle(name, createThrottle(limit, windowMs))),
    });
  } catch (err) {
    await shared?.close(); // its socket and reconnect timer would keep the process alive
    throw err;
  }
  const idleMs = config.timeouts.idle * 1000;
  useStreamBuffers();
  const upstream = createUpstream(config.upstream ?? DEFAULT_UPSTREAM, idleMs, config.limits.upstreamSockets,
    await upstreamAccess(config.upstreamClient).catch(async (err: unknown) => {
      await auth.close();
      await shared?.close();
      throw err;
    }));
  const { host, port } = await listenAddress(config.listen);
  let listeningPort = port; // the one bound, once listening (port 0 picks one)
  const certDir = dirname(config.tls.cert);
  const caPath = join(certDir, 'ca.crt');
  // The CA's notAfter, for the metrics: ca.crt as last read (a rollover phase changes it).
  let caValidTo: Date | undefined;
  const makeTrust = async (serverPem: string) => {
    const pem = await readTrustPem(certDir);
    caValidTo = new Date(new X509Certificate(pem).validTo);
    return createTrust(pem, reachableFrom(host, trustAddresses(serverPem, port, config.publicUrl)));
  };
  let trust: ReturnType<typeof swappableTrust> | undefined;
  if (existsSync(caPath)) {
    trust = swappableTrust(await makeTrust(String(tls.cert)));
  } else {
    log.warn({ ca: caPath }, 'no ca.crt beside the server certificate: /trust/ is off');
  }
  // Readiness: what must hold for this process to take new requests.
  // One probe of the upstream, cached for a second, for /readyz and /healthz alike.
  const upstreamProbe = upstreamCheck((timeoutMs) => upstreamReachable(upstream, log, timeoutMs));
  const health = createHealth(log, [
    upstreamProbe,
    certificateCheck(() => certificate),
    ...(shared ? [{ name: 'redis', check: () => shared.status() }] : []),
  ]);
  // Clients send the same few Hosts: the certificate is asked once per Host (reset on reload).
  const hostAllowed = (host: string) => {
    let ok = hostChecks.get(host);
    if (ok === undefined) {
      ok = servedPort(host, listeningPort) && certifiedHost(host, certificate);
      if (hostChecks.size < 1024) hostChecks.set(host, ok);
    }
    return ok;
  };
  // The web UI's sessions are signed with a key derived from server.key, so
  // every replica holding it accepts them; after a renewal (a new key) the
  // one before still verifies. Logouts are shared in Redis when it is set.
  let sessionKeys = [sessionKey(String(tls.key))];
  const revocations = shared ? sharedRevocations(shared, localRevocations()) : localRevocations();
  const ui = lazyEndpoint(async () => (await import('../ui/endpoint.js')).createUi({
    mode: config.auth.mode, accounts: auth.accounts, policy, upstream, log,
    publicOrigin: configured, publicHost: config.publicUrl ? new URL(config.publicUrl).host : undefined,
    hostAllowed, clientAddress, trust: () => trust, certificate: () => certificate, sessionKeys: () => sessionKeys,
    revocations,
  }));
  const handle = createHandler({
    probes: health,
    upstreamHealthy: async () => (await upstreamProbe.check()) === undefined,
    controller: auth.controller,
    policy,
    upstream,
    log,
    publicOrigin: originOf,
    publicHost: config.publicUrl ? new URL(config.publicUrl).host : undefined,
    hostAllowed,
    shares: createShares({
      perAddress: config.limits.upstreamPerAddress,
      perAccount: config.limits.upstreamPerAccount,
      anonymous: config.limits.upstreamAnonymous,
    }),
    bodyStallMs: config.timeouts.bodyStall * 1000,
    bodyMinBytes: config.timeouts.bodyMinBytes,
    poolWaitMs: config.timeouts.poolWait * 1000,
    logProbes: config.log.probes,
    endpoints: [...auth.endpoints, ...(trust ? [trust] : []), ui, rootRedirect],
  });
  const server = https.createServer({
    ...tls,
    ...(config.tls.clientCA ? { requestCert: true, rejectUnauthorized: true } : {}),
    // A blob upload may take hours: no total request time, only idle limits.
    requestTimeout: 0,
    headersTimeout: config.timeouts.headers * 1000,
    maxHeaderSize: HEADER_LIMIT,
    keepAliveTimeout: 30_000,
    handshakeTimeout: config.timeouts.handshake * 1000,
  }, (req, res) => void serve(req, res));
  const connections = guardConnections(server, config, log);
  server.on('checkContinue', (req, res) => void serve(req, res, true));
  // Counted for the drain; every socket is kept so that the end of the grace period can end it.
  let requests = 0;
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  const serve = (req: IncomingMessage, res: ServerResponse, expectContinue = false) => {
    requests++;
    res.once('close', () => requests--);
    // Draining: clients are told to reconnect, which a load balancer sends elsewhere.
    if (health.draining) res.shouldKeepAlive = false;
    return handle(req, res, expectContinue);
  };
  const stopSource = metrics.addSource({
    connections: () => sockets.size,
    certificates: () => ({ server: new Date(certificate.validTo), ca: caValidTo }),
  });
  // registry_gateway_upstream_up: readiness no longer says it (the probe excludes it), so alerts must.
  const stopUpstreamUp = edgeMetrics.addUpstream(async () => (await upstreamProbe.check()) === undefined);
  const stopMetrics = () => {
    stopSource();
    stopUpstreamUp();
  };
  server.timeout = idleMs; // idle time on the client socket
  // Counted by reason, and logged at info at most once a minute per reason (with how many
  // were not logged since), the rest at debug: nodes that missed a CA rollover fail here
  // (unknown_ca), and a scanner from many addresses must not flood the log or grow a map.
  const handshakeLogged = oncePer(60_000);
  const unlogged = new Map<string, number>();
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const reason = tlsFailureReason(err);
    metrics.tlsHandshakeFailure(reason);
    const fields = { client: clientAddressOf(socket), reason, error: err.code ?? err.message };
    if (handshakeLogged(reason)) {
      log.info({ ...fields, notLoggedSince: unlogged.get(reason) ?? 0 }, 'TLS handshake failed');
      unlogged.set(reason, 0);
    } else {
      unlogged.set(reason, (unlogged.get(reason) ?? 0) + 1);
      log.debug(fields, 'TLS handshake failed');
    }
  });

  const tokenReloadFailed = (err: Error) => {
    metrics.reloadFailed('token');
    log.error({ error: err.message }, 'token key reload failed; keeping the current keys');
  };
  // 'signal' (SIGHUP): reload and say so. 'change' (the file watch): add-host and renew replace
  // server.crt and server.key one after the other, so the watch fires once per file, perhaps
  // between the two: one reload for both (debounced), logged only when something changed, and
  // a pair that does not match yet is tried again before it counts as a failure.
  let loaded = { cert: String(tls.cert), key: String(tls.key) };
  let tlsQueue = Promise.resolve();
  const reloadTls = (why: 'signal' | 'change', retry = true): Promise<void> => (tlsQueue = tlsQueue.then(async () => {
    try {
      const next = await loadTls(tlsPaths);
      const same = String(next.cert) === loaded.cert && String(next.key) === loaded.key;
      if (why === 'change' && same) return;
      server.setSecureContext(next);
      loaded = { cert: String(next.cert), key: String(next.key) };
      certificate = new X509Certificate(loaded.cert);
      hostChecks.clear();
      const key = sessionKey(loaded.key);
      if (Buffer.compare(key, sessionKeys[0]!) !== 0) sessionKeys = [key, sessionKeys[0]!];
      log.info({ cert: tlsPaths.cert }, 'TLS certificate reloaded');
    } catch (err) {
      if (why === 'change' && retry) {
        tlsSoon(false, 1000);
        return;
      }
      metrics.reloadFailed('tls');
      log.error({ error: (err as Error).message }, 'TLS reload failed; keeping the current certificate');
    }
    await reloadTrust(); // the certificate's names are the addresses in the setup commands
  }));
  let tlsTimer: NodeJS.Timeout | undefined;
  const tlsSoon = (retry = true, delayMs = 300) => {
    clearTimeout(tlsTimer);
    tlsTimer = setTimeout(() => void reloadTls('change', retry), delayMs).unref();
  };
  // /trust/ follows the CA files (each rollover phase changes them) and the
  // server certificate. Runs one at a time, so the last change is the one served.
  let trustQueue = Promise.resolve();
  const reloadTrust = () => (trustQueue = trustQueue.then(async () => {
    if (!trust) return;
    try {
      const next = await makeTrust(certificate.toString());
      if (next.caSha256 === trust.caSha256 && next.commands.join('\n') === trust.commands.join('\n')) return;
      const caChanged = next.caSha256 !== trust.caSha256;
      trust.swap(next);
      log.info({ caSha256: next.caSha256, commands: next.commands },
        'node setup changed (the CAs nodes are given, or the addresses): run one of these commands as root on each node');
      // A rollover switch re-issues token.crt from the new CA too.
      if (caChanged) await auth.reload().catch(tokenReloadFailed);
    } catch (err) {
      metrics.reloadFailed('trust');
      log.error({ error: (err as Error).message }, 'trust reload failed; /trust/ keeps serving the current CAs');
    }
  }));
  // A rollover step writes several files in a row: one rebuild for them all.
  let trustTimer: NodeJS.Timeout | undefined;
  const trustSoon = () => {
    clearTimeout(trustTimer);
    trustTimer = setTimeout(() => void reloadTrust(), 300).unref();
  };
  const stopTlsOnly = watchTls(tlsPaths, () => tlsSoon());
  const stopTrustWatch = trust ? watchFiles(trustPaths(certDir), trustSoon) : () => {};
  const stopTlsWatch = () => {
    stopTlsOnly();
    stopTrustWatch();
    clearTimeout(trustTimer);
    clearTimeout(tlsTimer);
  };

  try {
    await bind(server, host, port);
  } catch (err) {
    stopTlsWatch();
    stopMetrics();
    upstream.close();
    await auth.close();
    await shared?.close();
    fail('LISTEN_FAILED', `cannot listen on ${config.listen}: ${(err as Error).message}; choose another with --listen or 'listen:' in the config`);
  }
  listeningPort = (server.address() as AddressInfo).port;
  hostChecks.clear();
  health.markStarted();
  const counts = async () => ({ connections: sockets.size, requests });
  const release = async () => {
    stopTlsWatch();
    stopMetrics();
    upstream.close();
    await auth.close();
    await shared?.close();
  };
  return {
    server,
    upstream: upstream.origin,
    trust,
    address: server.address() as AddressInfo,
    health,
    counts,
    setAccess(rules) {
      currentPolicy = policyFor(rules, config.auth.mode);
    },
    async reload() {
      await reloadTls('signal');
      await auth.reload().catch(tokenReloadFailed);
    },
    async drain(settings) {
      const target = drainableServer(server, {
        startDrain: () => health.startDrain(), sockets, requests: () => requests, closeWaiting: () => connections.close(),
      });
      const result = await drain(target, settings, log);
      await release();
      return result;
    },
    async close() {
      stopTlsWatch();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        connections.close();
      });
      stopMetrics();
      upstream.close();
      await auth.close();
      await shared?.close();
    },
  };
}
