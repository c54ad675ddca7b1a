// `gateway completion bash|zsh|fish`: the command. The script is generated
// from the command tree itself (completionScript.ts, loaded by the action),
// so a flag added to a command is completed without more work.
import { Argument, Command } from 'commander';
import type { Shell } from './completionScript.js';
import type { Output } from './output.js';

export const SHELLS: readonly Shell[] = ['bash', 'zsh', 'fish'];

export function completionCommand(io: Output, program: () => Command): Command {
  return new Command('completion')
    .description('print a shell completion script (bash, zsh or fish): commands, flags and the values of flags like --key and --auth')
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(SHELLS))
    .addHelpText('after', '\nExamples:\n' +
      '  $ gateway completion bash | sudo tee /etc/bash_completion.d/gateway   # new shells complete gateway\n' +
      '  $ source <(gateway completion bash)                                  # this shell only\n' +
      '  $ gateway completion zsh > "${fpath[1]}/_gateway"\n' +
      '  $ gateway completion fish > ~/.config/fish/completions/gateway.fish')
    .action(async (shell: Shell) => {
      const { completionScript } = await import('./completionScript.js');
      io.out(completionScript(shell, program()));
    });
}
