// `gateway token issue`: a token for scripts and debugging, granted by the
// same access rules as the /token endpoint.
// The modules that mint and check are imported at the actions: `gateway token
// --help` loads none of them (issue 26).
import { Command, InvalidArgumentError } from 'commander';
import { existsSync } from 'node:fs';
import { fail } from '../errors.js';
import { dirname } from 'node:path';
import { collect, outputOption, type Format } from './options.js';
import { printJson, type Output } from './output.js';

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

export function parseDuration(value: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(value.trim());
  const seconds = m ? Number(m[1]) * UNITS[m[2] || 's']! : NaN;
  if (!Number.isSafeInteger(seconds) || seconds < 60 || seconds > 30 * 86400) {
    throw new InvalidArgumentError('expected a duration from 60s to 30d, e.g. 300, 15m, 1h or 7d.');
  }
  return seconds;
}

/**
 * The config of a gateway in token mode: `issue` and `rotate` work on its keys
 * and rules. A config in another mode is refused: that gateway would not
 * accept the token, and the file's token settings would be guesses.
 */
async function tokenModeConfig(file: string) {
  const { inAuthMode, loadConfig } = await import('../config/config.js');
  const present = existsSync(file);
  const config = await loadConfig(present ? file : undefined, {});
  if (!inAuthMode(config, 'token')) {
    fail('INVALID_CONFIG', present
      ? `${file} sets auth.mode ${config.auth.mode}: a gateway in that mode accepts no bearer tokens; ` +
        'set auth.mode: token (with auth.token.service or publicUrl), or pass the token-mode config with --config'
      : `no config at ${file}: tokens are signed with a token-mode gateway's keys; ` +
        'pass its config with --config (auth.mode: token)');
  }
  return config;
}

export function tokenCommand(io: Output): Command {
  const token = new Command('token').description('bearer tokens (auth.mode token)')
    .addHelpText('after', '\nExample:\n  $ gateway token issue --user ci --scope repository:app/web:pull,push --ttl 1h');
  token.command('issue')
    .description('print a token for a user, with the access the rules allow of the scopes asked')
    .requiredOption('--user <name>', 'the subject; must exist in the htpasswd file ("" for anonymous)')
    .option('--scope <scope>', 'repository:NAME:ACTIONS or registry:catalog:* (repeatable)', collect)
    .option('--ttl <duration>', 'lifetime: seconds, or 15m, 1h, 7d', parseDuration)
    .option('--config <file>', 'the gateway config', 'config/gateway.yaml')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  $ gateway token issue --user ci --scope repository:app/web:pull,push --ttl 1h\n' +
      '  $ gateway token issue --user ci --scope repository:app/web:pull -o json   # with the access granted and the lifetime')
    .action(async (o: { user: string; scope?: string[]; ttl?: number; config: string; output: Format }) => {
      const [{ policyFor }, { readHtpasswd }, { tokenKeyRing, tokenSettings }, { grantFor }, { parseScope }, { mintAccessToken }] =
        await Promise.all([
          import('../auth/policy.js'), import('../auth/htpasswd.js'), import('../token/mode.js'), import('../token/grant.js'),
          import('../registry/scope.js'), import('../token/tokens.js'),
        ]);
      const { auth, access } = await tokenModeConfig(o.config);
      const asked = (o.scope ?? []).map((text) => parseScope(text) ?? fail('INVALID_ARGUMENT',
        `invalid --scope '${text}': expected repository:NAME:pull,push,delete (one repository, no wildcards) or registry:catalog:*`));
      if (o.user !== '' && !(await readHtpasswd(auth.htpasswd)).users.has(o.user)) {
        fail('INVALID_ARGUMENT', `no user '${o.user}' in ${auth.htpasswd}`);
      }
      const granted = grantFor(policyFor(access, 'token'), o.user, asked);
      const settings = tokenSettings(auth.token);
      const minted = await mintAccessToken(await tokenKeyRing(auth.token), settings, o.user, granted, o.ttl ?? settings.ttl);
      const refused = asked.filter((a) => !granted.some((g) => g.name === a.name && g.type === a.type));
      refused.forEach((a) => io.warn(`${a.type}:${a.name}: the access rules grant '${o.user}' nothing here`));
      if (o.output === 'json') {
        printJson(io, {
          token: minted.token, user: o.user, issuedAt: minted.issuedAt, expiresIn: minted.expiresIn,
          access: granted.map((g) => ({ type: g.type, name: g.name, actions: [...g.actions] })),
          refused: refused.map((a) => ({ type: a.type, name: a.name, actions: [...a.actions] })),
        });
      } else io.out(minted.token);
    });
  token.command('rotate')
    .description('retire the signing key and make a new one; tokens already issued keep verifying')
    .option('--config <file>', 'the gateway config', 'config/gateway.yaml')
    .addOption(outputOption())
    .addHelpText('after', '\nExample:\n  $ gateway token rotate      # running gateways load the new key within seconds; ' +
      'gateway reload (or kill -HUP PID) at once')
    .action(async (o: { config: string; output: Format }) => {
      const keyPath = (await tokenModeConfig(o.config)).auth.token.signingKey;
      const { rotateSigningKey, certPathFor } = await import('../token/keyring.js');
      const { retiredCert } = await rotateSigningKey(keyPath, dirname(keyPath));
      if (o.output === 'json') {
        printJson(io, { signingKey: keyPath, certificate: certPathFor(keyPath), retiredCertificate: retiredCert });
        return;
      }
      io.out(`new signing key in ${keyPath}; the retired key's certificate ${retiredCert} keeps verifying the tokens it signed`);
      io.out('running gateways sharing these files load the new key within seconds (SIGHUP: at once); ' +
        'delete the retired files once auth.token.refreshTtl has passed');
    });
  return token;
}
