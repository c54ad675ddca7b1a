// Assembles the gateway from a validated config: TLS listener, access
// controller for the configured mode, upstream proxy. Side effects (files,
// sockets, signals) live here and in the CLI, not in the request path.
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { certifiedHost } from '../proxy/passes.js';
import { createShares } from '../proxy/shares.js';
import { createTrust, trustAddresses, type Trust } from './trust.js';
import { bearerController } from '../auth/bearer.js';
import { createTokenEndpoint } from '../token/endpoint.js';
import type { KeyRing } from '../token/keyring.js';
import type { TokenSettings } from '../token/tokens.js';
import type { TokenHandler } from './handler.js';
import type { AddressInfo } from 'node:net';
import { policyFor } from '../auth/access.js';
import { basicController, noneController } from '../auth/basic.js';
import { createBcryptPool } from '../auth/bcryptPool.js';
import type { AccessController } from '../auth/controller.js';
import { readHtpasswd, watchHtpasswd } from '../auth/htpasswd.js';
import { createThrottle } from '../auth/throttle.js';
import { createPasswordLogin } from '../auth/passwordLogin.js';
import { createVerifier } from '../auth/verifier.js';
import { DEFAULT_UPSTREAM, type Config } from '../config/config.js';
import { createUpstream } from '../proxy/upstream.js';
import { fail } from '../errors.js';
import { clientAddress, createHandler } from './handler.js';
import type { Logger } from './log.js';
import { loadTls, watchTls } from './tls.js';
import { guardConnections } from './connections.js';
import { sharedThrottle } from './workers.js';

export interface Gateway {
  server: https.Server;
  upstream: string;
  trust?: Trust | undefined;
  address: AddressInfo;
  /** SIGHUP: re-reads certificates and token keys; open connections keep theirs. */
  reload(): Promise<void>;
  close(): Promise<void>;
}

export const HEADER_LIMIT = 16 * 1024;

export interface AuthParts {
  controller: AccessController;
  tokenEndpoint?: TokenHandler;
  /** Re-reads what can change under a running gateway (the token keys). */
  reload: () => Promise<void>;
  stop: () => void;
}

export function tokenSettings(config: Config): TokenSettings {
  const { service, issuer, ttl, refreshTtl } = config.auth.token;
  return { service: service ?? new URL(config.publicUrl!).host, issuer, ttl, refreshTtl };
}

/** The signing key (created next to the CA at first start) and retired keys. */
export async function tokenKeyRing(config: Config): Promise<KeyRing> {
  const keyPath = config.auth.token.signingKey;
  // Loaded in token mode only: @peculiar/x509 is sizeable and Basic mode needs none of it.
  const { ensureSigningKey, loadKeyRing } = await import('../token/keyring.js');
  await ensureSigningKey(keyPath, dirname(keyPath));
  return loadKeyRing(keyPath, config.auth.token.verifyKeys);
}

async function controllerFor(config: Config, log: Logger, publicOrigin: (req: IncomingMessage) => string): Promise<AuthParts> {
  const policy = policyFor(config.access, config.auth.mode);
  if (config.auth.mode === 'none') return { controller: noneController(policy), reload: async () => {}, stop: () => {} };
  let users = await readHtpasswd(config.auth.htpasswd);
  users.warnings.forEach((w) => log.warn(w));
  if (users.users.size === 0) log.warn(`${config.auth.htpasswd} has no usable users: nobody can log in (add one with 'gateway users add NAME')`);
  const pool = createBcryptPool();
  const verifier = createVerifier({ pool, lookup: (u) => users.users.get(u) });
  const stop = watchHtpasswd(config.auth.htpasswd, (next) => {
    users = next;
    verifier.clear();
    next.warnings.forEach((w) => log.warn(w));
    log.info({ users: next.users.size }, 'htpasswd reloaded');
  }, (message) => log.error(message));
  // Per address: a guessing client is slowed down; per user: a distributed
  // guess at one account is too, without locking the user out (passwordLogin.ts).
  // None touches a client whose credentials are already verified and cached.
  const login = createPasswordLogin(verifier, {
    byAddress: sharedThrottle('address', createThrottle(10, 60_000)),
    byUser: sharedThrottle('user', createThrottle(30, 60_000)),
    byUserSource: sharedThrottle('user-source', createThrottle(1, 60_000)),
  });
  const close = () => pool.close();
  if (config.auth.mode === 'htpasswd') return { controller: basicController({ realm: config.auth.realm, policy, login, clientAddress, close }), reload: async () => {}, stop };
  const settings = tokenSettings(config);
  let ring = await tokenKeyRing(config);
  return {
    // After `gateway token rotate`: sign with the new key, verify with both.
    reload: async () => {
      ring = await tokenKeyRing(config);
      log.info({ keys: ring.jwks.keys.length }, 'token keys reloaded');
    },
    controller: bearerController({ ring: () => ring, settings, policy, realm: (req) => `${publicOrigin(req)}/token`, close }),
    tokenEndpoint: createTokenEndpoint({
      ring: () => ring, settings, policy, login, userHash: (u) => users.users.get(u), clientAddress, maxScopes: config.limits.tokenScopes,
    }),
    stop,
  };
}

function splitListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  return { host: listen.slice(0, i).replace(/^\[|\]$/g, '') || '0.0.0.0', port: Number(listen.slice(i + 1)) };
}

export async function startGateway(config: Config, log: Logger, version: string): Promise<Gateway> {
  const tlsPaths = { cert: config.tls.cert, key: config.tls.key, clientCA: config.tls.clientCA };
  const tls = await loadTls(tlsPaths);
  const configured = config.publicUrl ? new URL(config.publicUrl).origin : undefined;
  // The names the current certificate holds: only those Hosts are reflected.
  let certificate = new X509Certificate(String(tls.cert));
  const originOf = (req: IncomingMessage) => configured ?? `https://${req.headers.host ?? ''}`;
  const { controller, tokenEndpoint, stop, reload: reloadAuth } = await controllerFor(config, log, originOf);
  const idleMs = config.timeouts.idle * 1000;
  const upstream = createUpstream(config.upstream ?? DEFAULT_UPSTREAM, idleMs, config.limits.upstreamSockets);
  const { host, port } = splitListen(config.listen);
  const caPath = join(dirname(config.tls.cert), 'ca.crt');
  let trust: Trust | undefined;
  if (existsSync(caPath)) {
    trust = await createTrust(caPath, trustAddresses(String(tls.cert), port, config.publicUrl));
  } else {
    log.warn({ ca: caPath }, 'no ca.crt beside the server certificate: /trust/ is off');
  }
  const handle = createHandler({
    controller,
    upstream,
    log,
    authenticates: config.auth.mode !== 'none',
    publicOrigin: originOf,
    publicHost: config.publicUrl ? new URL(config.publicUrl).host : undefined,
    hostAllowed: (host) => certifiedHost(host, certificate),
    shares: createShares({ perAddress: config.limits.upstreamPerAddress, perAccount: config.limits.upstreamPerAccount, anonymous: config.limits.upstreamAnonymous }),
    bodyStallMs: config.timeouts.bodyStall * 1000,
    version,
    tokenEndpoint,
    trust,
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
  }, (req, res) => void handle(req, res));
  const connections = guardConnections(server, config, log);
  server.on('checkContinue', (req, res) => void handle(req, res, true));
  server.timeout = idleMs; // idle time on the client socket
  server.on('tlsClientError', (err) => log.debug({ error: err.message }, 'TLS handshake failed'));

  const reloadTls = async () => {
    try {
      const next = await loadTls(tlsPaths);
      server.setSecureContext(next);
      certificate = new X509Certificate(String(next.cert));
      log.info({ cert: tlsPaths.cert }, 'TLS certificate reloaded');
    } catch (err) {
      log.error({ error: (err as Error).message }, 'TLS reload failed; keeping the current certificate');
    }
  };
  const stopTlsWatch = watchTls(tlsPaths, () => void reloadTls());

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    stop();
    stopTlsWatch();
    upstream.close();
    await controller.close();
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? 'the port is in use' : code === 'EADDRNOTAVAIL' ? 'no interface has that address' : code === 'EACCES' ? 'ports below 1024 need root' : (code ?? (err as Error).message);
    fail('LISTEN_FAILED', `cannot listen on ${config.listen}: ${why}; choose another with --listen or 'listen:' in the config`);
  }
  return {
    server,
    upstream: upstream.origin,
    trust,
    address: server.address() as AddressInfo,
    async reload() {
      await reloadTls();
      await reloadAuth().catch((err: Error) => log.error({ error: err.message }, 'token key reload failed; keeping the current keys'));
    },
    async close() {
      stop();
      stopTlsWatch();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        connections.close();
      });
      upstream.close();
      await controller.close();
    },
  };
}
