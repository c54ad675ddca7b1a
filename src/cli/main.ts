#!/usr/bin/env node
// The `gateway` command. Errors are mapped to exit codes here and only here:
// 0 success, 2 a usage or input error (one line naming the value and the fix),
// 1 anything else. User errors never print a stack trace.
//
// Only command definitions are imported here, and they import nothing heavy:
// each action loads what it uses with import() (issue 26), so `--help`,
// `--version` and `COMMAND --help` start in about the time of `node -e 0`.
// test/integration/cli-startup.test.ts guards it.
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { GatewayError, exitCodeFor } from '../errors.js';
import { certsCommand } from './certs.js';
import { runAsWorker, serveCommand, upCommand } from './serve.js';
import { isWorker } from '../server/workers.js';
import { usersCommand } from './users.js';
import { tokenCommand } from './token.js';
import { bundleCommand } from './bundle.js';
import { deployCommand } from './deploy.js';
import { completionCommand } from './completion.js';
import { reloadCommand } from './reload.js';
import { consoleOutput, type Output } from './output.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(io: Output): Command {
  const program = new Command('gateway')
    .description('TLS and auth gateway for a container image registry')
    .version(pkg.version)
    .exitOverride()
    .addHelpText('after', '\nExample:\n  $ gateway certs init --host registry.example.test');
  program.addCommand(certsCommand(io));
  program.addCommand(serveCommand(pkg.version));
  program.addCommand(upCommand(pkg.version, io));
  program.addCommand(usersCommand(io));
  program.addCommand(tokenCommand(io));
  program.addCommand(bundleCommand(io));
  program.addCommand(deployCommand(pkg.version, io));
  program.addCommand(reloadCommand(io));
  program.addCommand(completionCommand(io, () => program));
  // Subcommands inherit this when added through .command(); addCommand needs it explicitly.
  const inherit = (cmd: Command) => {
    cmd.exitOverride();
    cmd.commands.forEach(inherit);
  };
  program.commands.forEach(inherit);
  return program;
}

export async function run(argv: string[], io: Output = consoleOutput): Promise<number> {
  try {
    await buildProgram(io).parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2; // commander printed the message
    if (err instanceof GatewayError) {
      process.stderr.write(`gateway: ${err.message}\n`);
      return exitCodeFor(err);
    }
    process.stderr.write(`gateway: unexpected error: ${(err as Error)?.message ?? String(err)}\n`);
    if (process.env.GATEWAY_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
    return 1;
  }
}

// `pidof gateway` finds it (and `gateway reload` checks that the pid in a pid
// file is one); otherwise it is one `node` among others. Exactly 'gateway':
// pidof compares the whole process name.
process.title = 'gateway';

if (isWorker()) {
  // A `serve --workers` worker: started by the primary, not by a user.
  try {
    await runAsWorker(pkg.version);
  } catch (err) {
    process.stderr.write(`gateway worker: ${(err as Error).message}\n`);
    process.exitCode = exitCodeFor(err);
  }
} else {
  process.exitCode = await run(process.argv.slice(2));
}
