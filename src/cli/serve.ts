// `gateway serve` and `gateway up`: load and validate the config, start, and
// stay up until SIGTERM/SIGINT; SIGHUP reloads the certificates.
import { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { setUser } from '../auth/users.js';
import { loadConfig, type Config, type Overrides } from '../config/config.js';
import { startGateway } from '../server/server.js';
import { startLocalRegistry, type LocalRegistry } from '../server/localRegistry.js';
import { createLogger, type Logger } from '../util/log.js';
import { collect, wholeNumber } from './options.js';
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { isWorker, runWorkers, workerConfig } from '../server/workers.js';
import { tokenKeyRing } from '../token/mode.js';
import type { Output } from './output.js';

const DEFAULT_CONFIG = 'config/gateway.yaml';
// In-flight transfers get this long to finish on shutdown.
const SHUTDOWN_GRACE_MS = 10_000;
const LOCAL_REGISTRY_PORT = 5000;

type ServeOptions = Overrides & { config?: string; workers: number };

function withServeOptions(cmd: Command): Command {
  return cmd
    .option('--config <file>', `YAML config (default: ${DEFAULT_CONFIG} when it exists)`)
    .option('--listen <host:port>', 'listen address, e.g. 0.0.0.0:5443')
    .option('--upstream <url>', 'the registry behind the gateway, e.g. http://127.0.0.1:5000')
    .option('--public-url <url>', 'how clients reach the gateway, e.g. https://registry.example.test:5443')
    .option('--certs <dir>', 'directory holding server.crt and server.key')
    .option('--htpasswd <file>', 'the htpasswd file')
    .option('--auth <mode>', 'none | htpasswd | token')
    .option('--workers <n>', `processes sharing the listener: a number (1 to ${availableParallelism() * 2}) or 'auto', ` +
      `one per core (${availableParallelism()} here)`, workerCount, 1);
}

// Default 1, not one per core: each worker holds its own ~75 MiB and TLS
// state, and on a host shared with the upstream registry extra workers take
// the cores the registry needs (bench/README.md has the measurements).
function workerCount(value: string): number {
  if (value === 'auto') return availableParallelism();
  return wholeNumber('--workers', 1, availableParallelism() * 2, " or 'auto'")(value);
}

const configPathOf = (o: ServeOptions) => o.config ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined);

/** Runs until a stop signal; `extra` is stopped after the gateway. */
async function run(
  config: Config, configPath: string | undefined, log: Logger, version: string, extra?: LocalRegistry, workers = 1,
): Promise<void> {
  if (workers > 1) {
    // Created once here: workers creating it at the same time would each sign with their own.
    if (config.auth.mode === 'token') await tokenKeyRing(config.auth.token);
    try {
      await runWorkers(workers, config, configPath, log);
    } finally {
      await extra?.stop();
    }
    return;
  }
  const gateway = await startGateway(config, log);
  const listen = `${gateway.address.address}:${gateway.address.port}`;
  log.info({ version, listen, upstream: gateway.upstream, auth: config.auth.mode, config: configPath ?? null }, 'gateway started');
  if (gateway.trust && (!isWorker() || cluster.worker?.id === 1)) {
    const { caSha256, commands } = gateway.trust;
    log.info({ caSha256, commands }, 'node setup: run one of these commands as root on each node');
    process.stderr.write('To trust this registry on a node, run as root (the CA\'s SHA-256 is checked before anything is installed):\n' +
      `  ${commands[0]}\n`);
  }
  process.on('SIGHUP', () => void gateway.reload());
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      // Ctrl-C reaches a whole process group: primary and workers stop once each.
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'shutting down');
      setTimeout(() => gateway.server.closeAllConnections(), SHUTDOWN_GRACE_MS).unref();
      void gateway.close().then(() => extra?.stop()).then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

export function serveCommand(version: string): Command {
  return withServeOptions(new Command('serve').description('run the HTTPS gateway in front of the upstream registry'))
    .addHelpText('after', '\nExamples:\n  $ gateway serve --config config/gateway.yaml\n' +
      '  $ gateway serve --listen 127.0.0.1:5443 --upstream http://127.0.0.1:5000 --certs certs --htpasswd config/htpasswd')
    .action(async (o: ServeOptions) => {
      const configPath = configPathOf(o);
      await run(await loadConfig(configPath, o), configPath, createLogger(), version, undefined, o.workers);
    });
}

export function upCommand(version: string, io: Output): Command {
  const description = 'set up what is missing (certificates, a first user, a local registry when no upstream is configured) and serve';
  return withServeOptions(new Command('up').description(description))
    .option('--host <name>',
      'names and addresses for new certificates (repeatable); default: localhost, 127.0.0.1, ::1 and this machine', collect)
    .option('--data <dir>', 'where the local registry keeps its images', 'data')
    .option('--registry-port <n>', 'port of the local registry on 127.0.0.1', wholeNumber('--registry-port', 1, 65535), LOCAL_REGISTRY_PORT)
    .addHelpText('after', '\nExamples:\n  $ gateway up\n  $ gateway up --host registry.example.test --listen 0.0.0.0:5443')
    .action(async (o: ServeOptions & { host?: string[]; data: string; registryPort: number }) => {
      const configPath = configPathOf(o);
      const config = await loadConfig(configPath, o);
      const log = createLogger();
      const ctx = { now: new Date(), creator: 'gateway up', warn: io.warn };
      // Loaded here only: a gateway that just serves never needs node-forge.
      const { initCerts } = await import('../certs/init.js');
      const certs = await initCerts({
        dir: dirname(config.tls.cert), hosts: o.host ?? [], caDays: 3650, days: 365, nameConstraints: true, force: false, newCa: false,
      }, ctx);
      if (certs.changed) certs.notes.forEach((n) => process.stderr.write(`${n}\n`));
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
        await run(config, configPath, log, version, local, o.workers);
      } catch (err) {
        await local?.stop();
        throw err;
      }
    });
}

/** A cluster worker: serve the config the primary validated, nothing else. */
export async function runAsWorker(version: string): Promise<void> {
  const { config, configPath } = workerConfig();
  await run(config, configPath, createLogger(), version);
  cluster.worker?.disconnect();
}
