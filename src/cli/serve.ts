// `gateway serve`: load and validate the config, start, and stay up until
// SIGTERM/SIGINT; SIGHUP reloads the certificates.
import { Command } from 'commander';
import { existsSync } from 'node:fs';
import { loadConfig, type Overrides } from '../config/config.js';
import { startGateway } from '../server/server.js';
import { createLogger } from '../server/log.js';

const DEFAULT_CONFIG = 'config/gateway.yaml';
// In-flight transfers get this long to finish on shutdown.
const SHUTDOWN_GRACE_MS = 10_000;

export function serveCommand(version: string): Command {
  return new Command('serve')
    .description('run the HTTPS gateway in front of the upstream registry')
    .option('--config <file>', `YAML config (default: ${DEFAULT_CONFIG} when it exists)`)
    .option('--listen <host:port>', 'listen address, e.g. 0.0.0.0:5443')
    .option('--upstream <url>', 'the registry behind the gateway, e.g. http://127.0.0.1:5000')
    .option('--public-url <url>', 'how clients reach the gateway, e.g. https://registry.example.test:5443')
    .option('--certs <dir>', 'directory holding server.crt and server.key')
    .option('--htpasswd <file>', 'the htpasswd file')
    .option('--auth <mode>', 'none | htpasswd')
    .addHelpText('after', '\nExamples:\n  $ gateway serve --config config/gateway.yaml\n  $ gateway serve --listen 127.0.0.1:5443 --upstream http://127.0.0.1:5000 --certs certs --htpasswd config/htpasswd')
    .action(async (o: Overrides & { config?: string }) => {
      const configPath = o.config ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined);
      const config = await loadConfig(configPath, o);
      const log = createLogger();
      const gateway = await startGateway(config, log, version);
      log.info({ listen: `${gateway.address.address}:${gateway.address.port}`, upstream: config.upstream, auth: config.auth.mode, config: configPath ?? null }, 'gateway started');
      process.on('SIGHUP', () => void gateway.reloadTls());
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          log.info({ signal }, 'shutting down');
          setTimeout(() => gateway.server.closeAllConnections(), SHUTDOWN_GRACE_MS).unref();
          void gateway.close().then(resolve);
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
    });
}
