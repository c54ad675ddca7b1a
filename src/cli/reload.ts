// `gateway reload`: SIGHUP to the one gateway whose pid file this is (`up`
// writes data/gateway.pid; `serve --pid-file FILE`), where `pidof gateway`
// would signal every gateway on the machine.
import { Command } from 'commander';
import { join } from 'node:path';
import { fail } from '../errors.js';
import { runningGateway } from '../server/pidFile.js';
import { UP_PID_FILE } from './serve.js';
import type { Output } from './output.js';

export function reloadCommand(io: Output): Command {
  return new Command('reload')
    .description('make a running gateway re-read its certificates, token keys and config now (SIGHUP to the pid in its pid file)')
    .option('--pid-file <file>', "the gateway's pid file (serve --pid-file; up writes DATA/gateway.pid)", join('data', UP_PID_FILE))
    .addHelpText('after', '\nExamples:\n  $ gateway reload                            # the gateway npm start / gateway up runs here\n' +
      '  $ gateway reload --pid-file /run/gateway.pid')
    .action(async (o: { pidFile: string }) => {
      const pid = await runningGateway(o.pidFile);
      if (pid === undefined) {
        fail('FILE_MISSING', `no running gateway is named in ${o.pidFile}: start one with 'gateway up' ` +
          `(or 'gateway serve --pid-file ${o.pidFile}'), ` +
          'or pass its pid file with --pid-file');
      }
      process.kill(pid, 'SIGHUP');
      io.out(`sent SIGHUP to the gateway (pid ${pid}): it reloads its certificates, token keys and config`);
    });
}
