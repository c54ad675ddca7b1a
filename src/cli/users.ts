// `gateway users ...`: manage the htpasswd file. A password never comes from
// argv unless --password is given explicitly (argv is visible in ps).
import { Command } from 'commander';
import { createInterface } from 'node:readline';
import { fail } from '../errors.js';
import { outputOption, wholeNumber, type Format } from './options.js';
import { printJson, type Output } from './output.js';
import { readStdin } from './stdin.js';

const DEFAULT_FILE = 'config/htpasswd';
/** Shortest password `users add` and `users passwd` accept unless told otherwise (--min-length). */
const MIN_PASSWORD_LENGTH = 8;

function prompt(question: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    // Echo nothing while the password is typed.
    (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
      if (s.startsWith(question)) process.stderr.write(question);
    };
    rl.question(question, (answer) => {
      rl.close();
      process.stderr.write('\n');
      resolve(answer);
    });
  });
}

async function password(o: { password?: string; passwordStdin?: boolean }): Promise<string> {
  if (o.password !== undefined && o.passwordStdin) fail('INVALID_ARGUMENT', 'give the password one way: --password or --password-stdin');
  if (o.password !== undefined) return o.password;
  if (o.passwordStdin) return readStdin();
  if (!process.stdin.isTTY) {
    fail('INVALID_ARGUMENT',
      'no password given: pipe it in with --password-stdin (e.g. printf %s "$PW" | gateway users add NAME --password-stdin)');
  }
  const first = await prompt('Password: ');
  const second = await prompt('Repeat password: ');
  if (first !== second) fail('INVALID_ARGUMENT', 'the two passwords differ; nothing was changed');
  return first;
}

type SetOptions = { file: string; password?: string; passwordStdin?: boolean; cost: number; minLength: number };

function passwordOptions(cmd: Command): Command {
  return cmd
    .option('--file <path>', 'the htpasswd file', DEFAULT_FILE)
    .option('--password-stdin', 'read the password from standard input')
    .option('--password <password>', 'the password itself (visible to other users in ps: prefer --password-stdin)')
    .option('--cost <n>', 'bcrypt cost',
      wholeNumber('--cost', 4, 17, ' (10 is the default of htpasswd -B; each step doubles the time)'), 10)
    .option('--min-length <n>', 'shortest password accepted, in characters', wholeNumber('--min-length', 1, 72), MIN_PASSWORD_LENGTH);
}

export function usersCommand(io: Output): Command {
  const users = new Command('users')
    .description('manage the htpasswd users (bcrypt) the gateway authenticates')
    .addHelpText('after', '\nExample:\n  $ printf %s "$PASSWORD" | gateway users add alice --password-stdin');

  passwordOptions(users.command('add <name>').description('add a user'))
    .addHelpText('after', '\nExamples:\n  $ gateway users add alice                  # asks for the password\n' +
      '  $ printf %s "$PW" | gateway users add ci --password-stdin --file config/htpasswd')
    .action(async (name: string, o: SetOptions) => {
      const { setUser } = await import('../auth/users.js');
      await setUser(o.file, name, await password(o), o.cost, 'add', o.minLength);
      io.out(`added user '${name}' to ${o.file}`);
    });

  passwordOptions(users.command('passwd <name>').description("change a user's password"))
    .addHelpText('after', '\nExample:\n  $ gateway users passwd alice')
    .action(async (name: string, o: SetOptions) => {
      const { setUser } = await import('../auth/users.js');
      await setUser(o.file, name, await password(o), o.cost, 'passwd', o.minLength);
      io.out(`changed the password of '${name}' in ${o.file}`);
    });

  users.command('remove <name>')
    .description('remove a user (a running gateway stops accepting it within seconds)')
    .option('--file <path>', 'the htpasswd file', DEFAULT_FILE)
    .addHelpText('after', '\nExample:\n  $ gateway users remove alice')
    .action(async (name: string, o: { file: string }) => {
      const { removeUser } = await import('../auth/users.js');
      await removeUser(o.file, name);
      io.out(`removed user '${name}' from ${o.file}`);
    });

  users.command('list')
    .description('list the users')
    .option('--file <path>', 'the htpasswd file', DEFAULT_FILE)
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  $ gateway users list --file config/htpasswd\n  $ gateway users list -o json')
    .action(async (o: { file: string; output: Format }) => {
      const { listUsers } = await import('../auth/users.js');
      const { users: names, warnings } = await listUsers(o.file);
      if (o.output === 'json') printJson(io, { file: o.file, users: names });
      else names.forEach((n) => io.out(n));
      warnings.forEach(io.warn);
    });
  return users;
}
