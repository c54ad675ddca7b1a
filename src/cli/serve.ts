// `gateway serve` and `gateway up`: load and validate the config, start, and
// stay up until SIGTERM/SIGINT; SIGHUP reloads the certificates.
import { Command, Option } from 'commander';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Context } from '../certs/issue.js';
import type { Config, Overrides } from '../config/config.js';
import type { Gateway } from '../server/server.js';
import type { Probes } from '../metrics/probes.js';
import type { MetricsServer } from '../server/metricsServer.js';
import type { LocalRegistry } from '../server/localRegistry.js';
import type { Logger } from '../util/log.js';
import { LOG_FORMATS, resolveLogFormat, type LogFormat } from '../util/logFormat.js';
import { fail } from '../errors.js';
import { collect, DEFAULT_CONFIG, wholeNumber } from './options.js';
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { isWorker, workerConfig } from '../server/workers.js';
import type { RenewalSettings } from '../server/renewal.js';
import type { StopSignal } from '../server/stopSignals.js';
import type { Output } from './output.js';

/**
 * The server's modules, loaded when a command serves, not when this file is
 * imported: `gateway --help` builds these commands and must not load pino,
 * zod, prom-client or ioredis (issue 26; test/integration/cli-startup.test.ts).
 */
async function serverModules() {
  const modules = await Promise.all([
    import('../auth/users.js'), import('../config/config.js'), import('../server/server.js'), import('../metrics/metrics.js'),
    import('../server/health.js'), import('../server/metricsServer.js'), import('../server/workerQueries.js'),
    import('../server/localRegistry.js'), import('../util/log.js'), import('../server/workers.js'), import('../token/mode.js'),
    import('../server/renewal.js'), import('../server/configReload.js'), import('../server/pidFile.js'), import('../server/listen.js'),
    import('../trust/endpoint.js'), import('../server/stopSignals.js'),
  ]);
  const [users, config, server, metrics, health, metricsServer, workerQueries, localRegistry, log, workers, mode, renewal,
    configReload, pidFile, listen, trust, stopSignals] = modules;
  return {
    ...users, ...config, ...server, ...metrics, ...health, ...metricsServer, ...workerQueries, ...localRegistry, ...log, ...workers,
    ...mode, ...renewal, ...configReload, ...pidFile, ...listen, ...trust, ...stopSignals,
  };
}

const LOCAL_REGISTRY_PORT = 5000;
// Set by scripts/start.sh: the pid of the process that ran it.
const PARENT_ENV = 'GATEWAY_PARENT_PID';
const PARENT_CHECK_MS = 1_000;

type ServeOptions = Overrides & { config?: string; workers: number; logFormat: string; pidFile?: string; longSetup?: boolean };

/** Where `up` keeps its pid file unless --pid-file says otherwise (beside the local registry's data). */
export const UP_PID_FILE = 'gateway.pid';

function withServeOptions(cmd: Command): Command {
  return cmd
    .option('--config <file>', `YAML config (default: ${DEFAULT_CONFIG} when it exists)`)
    .option('--listen <host:port>', 'listen address (default [::]:5443: every address, IPv6 and IPv4), ' +
      'e.g. 0.0.0.0:5443 for IPv4 only, or a port alone (6000)')
    .option('--port <n>', 'the port to listen on, the host kept (from --listen or the config): --port 6000 on the default is [::]:6000',
      wholeNumber('--port', 1, 65535))
    .option('--upstream <url>', 'the registry behind the gateway, e.g. http://127.0.0.1:5000')
    .option('--public-url <url>', 'how clients reach the gateway, e.g. https://registry.example.test:5443')
    .option('--certs <dir>', 'directory holding server.crt and server.key')
    .option('--htpasswd <file>', 'the htpasswd file')
    .option('--auth <mode>', 'none | htpasswd | token')
    .option('--metrics <host:port>', 'serve Prometheus metrics (and /livez, /readyz, /startupz) over plain HTTP here, e.g. 127.0.0.1:9464')
    .option('--workers <n>', `processes sharing the listener: a number (1 to ${availableParallelism() * 2}) or 'auto', ` +
      `one per core (${availableParallelism()} here)`, workerCount, 1)
    .addOption(new Option('--log-format <format>', 'log lines as JSON, or as short text; auto: text on a terminal, JSON otherwise')
      .choices([...LOG_FORMATS]).default('auto'))
    .option('--pid-file <file>', 'write the process id here while running (gateway reload signals it)')
    .option('--long-setup', 'at start, print and log the long node setup command (every step in it, no /trust/setup; ' +
      '/trust/ lists both forms)');
}

// Default 1, not one per core: each worker holds its own ~75 MiB and TLS
// state, and on a host shared with the upstream registry extra workers take
// the cores the registry needs (bench/README.md has the measurements).
function workerCount(value: string): number {
  if (value === 'auto') return availableParallelism();
  return wholeNumber('--workers', 1, availableParallelism() * 2, " or 'auto'")(value);
}

const configPathOf = (o: ServeOptions) => o.config ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined);

const renewalSettings = (config: Config): RenewalSettings => ({
  cert: config.tls.cert, key: config.tls.key, before: config.tls.renew.before, days: config.tls.renew.days,
  everyMs: config.tls.renew.every * 1000,
});

/**
 * scripts/start.sh names the process that started it (npm or npm's shell): when that
 * one dies, this process is re-parented, and stops as on Ctrl-C. The same
 * SIGINT the kernel sends under setpriv --pdeathsig; this is the fallback where
 * setpriv is missing. Read once and removed: neither workers nor the local
 * registry have that parent.
 */
function stopWithParent(log: Logger): void {
  const parent = Number(process.env[PARENT_ENV]);
  delete process.env[PARENT_ENV];
  if (!Number.isInteger(parent) || parent <= 1) return;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    log.warn({ parent }, 'the process that started the gateway is gone: stopping');
    process.kill(process.pid, 'SIGINT');
  }, PARENT_CHECK_MS);
  timer.unref();
}

/**
 * The source revision the gateway was built from, for registry_gateway_build_info:
 * the image sets GATEWAY_REVISION (scripts/image.sh); elsewhere it is unknown.
 */
const buildRevision = (revision = process.env.GATEWAY_REVISION ?? '') =>
  (/^[0-9a-f]{7,40}(-dirty)?$/.test(revision) ? revision : 'unknown');

/** Runs until a stop signal; `extra` is stopped after the gateway. */
interface RunOptions {
  /** The flags, for re-reading the config as the start read it. */
  overrides?: Overrides;
  extra?: LocalRegistry | undefined;
  workers?: number;
  format?: LogFormat;
  pidFile?: string | undefined;
  /** Print and log the self-contained setup commands instead of the short ones. */
  longSetup?: boolean | undefined;
}

async function run(config: Config, configPath: string | undefined, log: Logger, version: string, opts: RunOptions = {}): Promise<void> {
  const {
    metrics, answerPrimary, startRenewal, clusterProbes, STARTING, startMetricsServer, clusterMetrics, processMetrics, tokenKeyRing,
    runWorkers, startGateway, certificateState, watchConfig, writePidFile, describeCaHashes, onStopSignals, exitStatusFor, AGAIN_HINT,
    STOP_NOW_MESSAGE,
  } = await serverModules();
  const { extra, workers = 1, format = 'json' } = opts;
  log.level = config.log.level;
  metrics.buildInfo(version, buildRevision());
  // Written once listening (or by the primary of --workers), removed at the stop.
  let removePidFile = async () => {};
  const pidFile = async () => {
    if (opts.pidFile && !isWorker()) removePidFile = await writePidFile(opts.pidFile);
  };
  if (!isWorker()) stopWithParent(log);
  if (config.metrics) metrics.collectDefaults();
  let current: Gateway | undefined;
  const notStarted = { ok: false, reasons: [STARTING] };
  // Under --workers the primary asks each worker for its metrics and probes.
  if (isWorker()) {
    answerPrimary({
      metrics: () => metrics.registry.getMetricsAsJSON(),
      startup: () => current?.health.startup() ?? notStarted,
      ready: (exclude) => current?.health.ready(exclude) ?? notStarted,
    });
  }
  // One process renews (the primary); workers only reload what it wrote.
  if (!isWorker()) await startRenewal(renewalSettings(config), log);
  // Before the gateway listens: a busy metrics address stops the start with nothing half up.
  let primaryDraining = false;
  const probes: Probes = workers > 1 ? clusterProbes(workers, () => primaryDraining) : {
    live: () => ({ ok: true, reasons: [] }),
    startup: () => current?.health.startup() ?? notStarted,
    ready: async (exclude, verbose) => current?.health.ready(exclude, verbose) ?? notStarted,
  };
  const metricsServer: MetricsServer | undefined = config.metrics && !isWorker()
    ? await startMetricsServer(config.metrics.listen, workers > 1 ? clusterMetrics() : processMetrics(), () => probes, log,
      config.metrics.hosts)
    : undefined;
  const stopped = async () => {
    await metricsServer?.close();
    log.info('stopped');
  };
  if (workers > 1) {
    // The workers drain; the primary's /readyz fails with theirs from the first signal.
    const markDraining = () => void (primaryDraining = true);
    process.on('SIGTERM', markDraining);
    process.on('SIGINT', markDraining);
    let atOnce: StopSignal | undefined;
    try {
      // Created once here: workers creating it at the same time would each sign with their own.
      if (config.auth.mode === 'token') await tokenKeyRing(config.auth.token);
      await pidFile();
      atOnce = await runWorkers(workers, config, configPath, log, opts.overrides);
    } finally {
      await extra?.stop();
      await removePidFile();
      await stopped();
    }
    // Stopped by a second signal: the status a shell gives a process that signal ended.
    if (atOnce) process.exit(exitStatusFor(atOnce));
    return;
  }
  let gateway: Gateway;
  try {
    gateway = await startGateway(config, log);
  } catch (err) {
    await metricsServer?.close();
    throw err;
  }
  current = gateway;
  // [::]:5443, as the config writes it: ':::5443' reads as nothing.
  const { address: bound, port: boundPort, family } = gateway.address;
  const listen = family === 'IPv6' ? `[${bound}]:${boundPort}` : `${bound}:${boundPort}`;
  const certificate = await certificateState(config.tls.cert);
  await pidFile();
  // The address other machines use: publicUrl's, else the first the certificate names (loopback last).
  const address = config.publicUrl ? new URL(config.publicUrl).host : gateway.trust?.addresses[0] ?? listen;
  const ui = `https://${address}/ui/`;
  log.info({ version, listen, upstream: gateway.upstream, auth: config.auth.mode, config: configPath ?? null, certificate, ui },
    'gateway started');
  if (!isWorker() || cluster.worker?.id === 1) {
    // For machines; on a terminal the summary below says it in a few lines.
    if (gateway.trust && format === 'json') {
      const { caSha256, caFingerprints, commands, longCommands } = gateway.trust;
      log.info({ caSha256, caFingerprints, commands: opts.longSetup ? longCommands : commands },
        'node setup: run one of these commands as root on each node');
    }
    if (format === 'text') {
      const summary = {
        version, listen, upstream: gateway.upstream, auth: config.auth.mode, ui, address, trust: gateway.trust,
        long: Boolean(opts.longSetup),
      };
      process.stdout.write(startSummary(summary, describeCaHashes));
    }
  }
  const configReload = configPath
    ? watchConfig(configPath, opts.overrides ?? {}, config, (next) => gateway.setAccess(next.access), log)
    : undefined;
  process.on('SIGHUP', () => void gateway.reload().then(() => configReload?.reload('signal')));
  // A second stop signal aborts it: what is in flight is cut at once (stopSignals.ts).
  const now = new AbortController();
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: StopSignal) => {
      // Ctrl-C reaches a whole process group: primary and workers stop once each.
      if (stopping) return;
      stopping = true;
      log.info({ signal, ...(isWorker() ? {} : { hint: AGAIN_HINT }) }, 'shutting down');
      // The local registry (gateway up) after the gateway: uploads in flight still need it.
      void gateway.drain({ delayMs: config.shutdown.delay * 1000, graceMs: config.shutdown.grace * 1000, now: now.signal })
        .catch((err: Error) => log.error({ error: err.message }, 'drain failed'))
        .then(() => configReload?.stop())
        .then(() => extra?.stop())
        .then(removePidFile)
        .then(stopped)
        .then(resolve, resolve);
    };
    const again = (signal: StopSignal) => {
      stop(signal);
      now.abort(signal);
    };
    if (isWorker()) {
      // A worker gets Ctrl-C's SIGINT and the primary's SIGTERM: one drain. The primary says when to stop at once.
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('message', (m: { type?: unknown; signal?: StopSignal } | null) => {
        if (m?.type === STOP_NOW_MESSAGE) again(m.signal === 'SIGTERM' ? 'SIGTERM' : 'SIGINT');
      });
    } else onStopSignals({ first: stop, again, log });
  });
  if (now.signal.aborted) process.exit(exitStatusFor(now.signal.reason as StopSignal));
}

export function serveCommand(version: string): Command {
  return withServeOptions(new Command('serve').description('run the HTTPS gateway in front of the upstream registry'))
    .addHelpText('after', '\nExamples:\n  $ gateway serve --config config/gateway.yaml\n' +
      '  $ gateway serve --listen 127.0.0.1:5443 --upstream http://127.0.0.1:5000 --certs certs --htpasswd config/htpasswd')
    .action(async (o: ServeOptions) => {
      const { loadConfig, createLogger } = await serverModules();
      const configPath = configPathOf(o);
      const format = resolveLogFormat(o.logFormat);
      await run(await loadConfig(configPath, o), configPath, createLogger(process.stdout, format), version,
        { workers: o.workers, format, pidFile: o.pidFile, overrides: o, longSetup: o.longSetup });
    });
}

/**
 * `up`'s certificates: created at the first start for the default names and
 * --host; afterwards --host only adds names, with the same CA, so nodes that
 * trust it need nothing new (names outside the CA's constraints fail with the
 * way out before anything changes).
 */
async function prepareCerts(dir: string, hosts: string[], ctx: Context): Promise<void> {
  // Loaded here only: a gateway that just serves never needs node-forge.
  const [{ initCerts }, { addHosts }, { defaultHosts, hostKey }] =
    await Promise.all([import('../certs/init.js'), import('../certs/addHost.js'), import('../certs/hosts.js')]);
  const first = !existsSync(join(dir, 'server.crt'));
  const initial = first && hosts.length > 0 ? [...defaultHosts(ctx.warn).map(hostKey), ...hosts] : [];
  const certs = await initCerts({
    dir, hosts: initial, caDays: 3650, days: 365, nameConstraints: true, force: false, newCa: false,
  }, ctx);
  // The start output stays short: the constraint list itself is in `gateway certs show`.
  const brief = (n: string) => (n.startsWith('name constraints: private;')
    ? 'name constraints: private; the CA signs only private names and addresses (even its key cannot impersonate a public site); ' +
      'add names like these later with the same CA (gateway certs add-host); the list: gateway certs show'
    : n);
  if (certs.changed) certs.notes.forEach((n) => process.stderr.write(`${brief(n)}\n`));
  if (first || hosts.length === 0) return;
  const added = await addHosts({ dir, hosts, days: 365 }, ctx);
  if (added.added.length > 0) {
    process.stderr.write(`added ${added.added.join(', ')} to ${dir}/server.crt (same CA: nodes need nothing new)\n`);
  }
}

/**
 * A second `up` in the same directory: the gateway's own port is checked
 * first, so that the answer is "a gateway is already running (pid N)" rather
 * than the local registry's port, and nothing (a second registry on the same
 * data) starts before it.
 */
async function refuseSecondStart(listen: string, pidFile: string): Promise<void> {
  const { runningGateway, listenAddress, portInUse } = await serverModules();
  const running = await runningGateway(pidFile);
  const { host, port } = await listenAddress(listen);
  const busy = await portInUse(host, port);
  if (running !== undefined) {
    fail('LISTEN_FAILED', `a gateway is already running (pid ${running}${busy ? `, on ${listen}` : ''}; pid file ${pidFile}): ` +
      `use that one, or stop it first (kill ${running}); ` +
      'a second gateway needs its own --port and --data');
  }
  if (busy) {
    fail('LISTEN_FAILED', `cannot listen on ${listen}: another program has port ${port}; ` +
      `stop it, or choose another port with --port N (or --listen HOST:PORT)`);
  }
}

/** What a person starting the gateway on a terminal needs, in a few lines. */
function startSummary(s: {
  version: string; listen: string; upstream: string; auth: string; ui: string; address: string; trust: Gateway['trust']; long: boolean;
}, describeCaHashes: (sha256: string, fingerprints: string[]) => string[]): string {
  const lines = [
    '',
    `registry-gateway ${s.version} is running on ${s.listen} (upstream ${s.upstream}, auth ${s.auth})`,
    `  registry   ${s.address}${s.trust && s.trust.addresses.length > 1 ? `   (also ${s.trust.addresses.slice(1).join(', ')})` : ''}`,
    `  web UI     ${s.ui}`,
  ];
  if (s.trust) {
    const [file, ...fingerprints] = describeCaHashes(s.trust.caSha256, s.trust.caFingerprints);
    lines.push(...[file!, ...fingerprints].map((l) => `  ${l}`), '',
      'To trust this registry on a node, run as root (it checks the CA file\'s SHA-256 before installing anything;',
      'append --dry-run to see what it would change):',
      `  ${(s.long ? s.trust.longCommands : s.trust.commands)[0]}`,
      `The command for each other address, and what each kind of node needs next: https://${s.address}/trust/`);
  }
  return `${lines.join('\n')}\n\n`;
}

export function upCommand(version: string, io: Output): Command {
  const description = 'set up what is missing (certificates, a first user, a local registry when no upstream is configured) and serve';
  return withServeOptions(new Command('up').description(description))
    .option('--host <name>', 'a name or address clients use (repeatable), added to the server certificate: ' +
      'at the first start beside localhost, 127.0.0.1, ::1 and this machine\'s name, later to the names it has (same CA)', collect)
    .option('--data <dir>', 'where the local registry keeps its images', 'data')
    .option('--registry-port <n>', 'port of the local registry on 127.0.0.1', wholeNumber('--registry-port', 1, 65535), LOCAL_REGISTRY_PORT)
    .addHelpText('after', '\nExamples:\n  $ gateway up\n  $ gateway up --host registry.example.test --host 192.168.1.20')
    .action(async (o: ServeOptions & { host?: string[]; data: string; registryPort: number }) => {
      const { loadConfig, createLogger, setUser, startLocalRegistry } = await serverModules();
      const configPath = configPathOf(o);
      const config = await loadConfig(configPath, o);
      const format = resolveLogFormat(o.logFormat);
      const log = createLogger(process.stdout, format);
      const pidFile = o.pidFile ?? join(o.data, UP_PID_FILE);
      await refuseSecondStart(config.listen, pidFile);
      const ctx = { now: new Date(), creator: 'gateway up', warn: io.warn };
      await prepareCerts(dirname(config.tls.cert), o.host ?? [], ctx);
      if (config.auth.mode === 'htpasswd' && !existsSync(config.auth.htpasswd)) {
        const password = randomBytes(18).toString('base64url');
        await setUser(config.auth.htpasswd, 'admin', password, 10, 'add');
        // Shown once, on the terminal only: never in the JSON log.
        process.stderr.write(`created user 'admin' in ${config.auth.htpasswd} with password: ${password}\n` +
          "(shown once; change it with 'gateway users passwd admin')\n");
      }
      let local: LocalRegistry | undefined;
      if (config.upstream === undefined) {
        local = await startLocalRegistry(o.data, o.registryPort, (line) => process.stderr.write(`registry: ${line}\n`));
        config.upstream = local.url;
        process.stderr.write(`started a local docker-registry at ${local.url} (images in ${o.data}/registry)\n`);
      }
      try {
        // The local registry's URL counts as a flag: a re-read config without upstream: is no change.
        const overrides = local ? { ...o, upstream: local.url } : o;
        const runOptions = { extra: local, workers: o.workers, format, pidFile, overrides, longSetup: o.longSetup };
        await run(config, configPath, log, version, runOptions);
      } catch (err) {
        await local?.stop();
        throw err;
      }
    });
}

/** A cluster worker: serve the config the primary validated, nothing else. */
export async function runAsWorker(version: string): Promise<void> {
  const { createLogger } = await serverModules();
  const { config, configPath, overrides } = workerConfig();
  const format = resolveLogFormat(undefined);
  // The primary's flags came whole (serve passes them as the overrides): --long-setup among them.
  const { longSetup } = overrides as ServeOptions;
  await run(config, configPath, createLogger(process.stdout, format), version, { format, overrides, longSetup });
  cluster.worker?.disconnect();
}
