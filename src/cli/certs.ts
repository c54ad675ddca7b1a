// `gateway certs ...`: wiring from flags to src/certs and back to text.
import { Command, Option } from 'commander';
import { hostname, userInfo } from 'node:os';
import { fail } from '../errors.js';
import type { Context } from '../certs/issue.js';
import type { CertReport } from '../certs/inspect.js';
import type { LeafKeyType } from '../certs/keys.js';
import { collect, outputOption, wholeNumber, type Format } from './options.js';
import { printJson, type Output } from './output.js';

// Apple platforms refuse TLS certificates valid for more than 825 days, even
// from a private CA (HT210176); browsers cap public ones at 398.
const MAX_LEAF_DAYS = 825;
const leafDays = wholeNumber('--days', 1, MAX_LEAF_DAYS,
  ' (Apple clients refuse longer-lived TLS certificates; renew with `gateway certs renew`)');

function creator(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (some containers): the host alone still says where it came from
  }
  return `${user}@${hostname()}`;
}

/** Who issues: `gateway bundle --client-cert` issues as `certs` does. */
export function certContext(io: Output): Context {
  return { now: new Date(), creator: creator(), warn: io.warn };
}

type InitOptions = {
  dir: string; host?: string[]; caDays: number; days: number; nameConstraints: boolean; exactNames?: boolean; permit?: string[];
  force?: boolean; newCa?: boolean; key: LeafKeyType;
};
type IssueOptions = { name: string; host?: string[]; client?: boolean; days: number; dir: string; force?: boolean; key: LeafKeyType };

function printReport(io: Output, r: CertReport): void {
  io.out(r.file);
  io.out(`  subject:      ${r.subject}`);
  if (!r.isCa) io.out(`  issuer:       ${r.issuer}`);
  if (r.sans.length > 0) io.out(`  names (SAN):  ${r.sans.join(', ')}`);
  if (r.extKeyUsage.length > 0) io.out(`  usage:        ${r.extKeyUsage.join(', ')}`);
  io.out(`  key:          ${r.keyType}`);
  io.out(`  valid:        ${r.notBefore} to ${r.notAfter} (${r.daysLeft} days left)`);
  io.out(`  serial:       ${r.serial}`);
  // Two different SHA-256s are shown for the CA: name each for what it is.
  io.out(`  fingerprint:  ${r.sha256}  (certificate SHA-256 fingerprint, as openssl x509 -fingerprint -sha256 and browsers show it)`);
  if (r.isCa) {
    io.out(r.nameConstraints
      ? `  constraints:  permitted ${r.nameConstraints.permitted.join(', ') || '(none)'}; ` +
        `excluded ${r.nameConstraints.excluded.join(', ') || '(none)'}`
      : '  constraints:  none (this CA can sign for any name)');
  }
  for (const p of r.problems) io.out(`  PROBLEM:      ${p}`);
}

// The CA stays RSA 3072 whatever this says: it only signs, and every client
// verifies RSA.
const keyOption = () => new Option('--key <type>',
  'key of the certificate: rsa (RSA 2048) or ecdsa (P-256: several times cheaper TLS handshakes for the gateway)')
  .choices(['rsa', 'ecdsa'])
  .default('rsa');

export function certsCommand(io: Output): Command {
  const certs = new Command('certs')
    .description('create and inspect the private CA and the certificates it signs')
    .addHelpText('after', '\nExample:\n  $ gateway certs init --host registry.example.test --host 192.168.1.10');

  certs.command('init')
    .description('create a private CA and a server certificate (ca.crt, ca.key, server.crt, server.key)')
    .option('--dir <dir>', 'where the files go', 'certs')
    .option('--host <name>', 'a DNS name, IP address or *.wildcard clients use (repeatable); ' +
      'default: localhost, 127.0.0.1, ::1 and this machine\'s hostname', collect)
    .option('--ca-days <n>', 'CA validity in days', wholeNumber('--ca-days', 1, 36500), 3650)
    .option('--days <n>', `server certificate validity in days (at most ${MAX_LEAF_DAYS})`, leafDays, 365)
    .option('--no-name-constraints', 'let the CA sign for any name (default: private names and addresses, and the --host names)')
    .option('--exact-names', 'let the CA sign only for the --host names (and names below them): a later name needs a new CA')
    .option('--permit <domain|cidr>', 'another domain or address range the CA may sign for later, e.g. corp.example.com or ' +
      '203.0.113.0/24 (repeatable)', collect)
    .option('--force', 're-issue the server certificate (with the existing CA) even if one exists')
    .option('--new-ca', 'with --force: replace the CA too (every node must be re-bundled)')
    .addOption(keyOption())
    .addHelpText('after', '\nExamples:\n  $ gateway certs init\n' +
      '  $ gateway certs init --host registry.example.test --host 10.0.0.5 --host localhost\n' +
      '  $ gateway certs init --force --host registry.example.test   # new server certificate, same CA')
    .action(async (o: InitOptions) => {
      const { initCerts } = await import('../certs/init.js');
      const result = await initCerts({
        dir: o.dir, hosts: o.host ?? [], caDays: o.caDays, days: o.days,
        nameConstraints: o.nameConstraints, exactNames: Boolean(o.exactNames), permit: o.permit ?? [],
        force: Boolean(o.force), newCa: Boolean(o.newCa), keyType: o.key,
      }, certContext(io));
      result.notes.forEach((n) => io.out(n));
      result.written.forEach((f) => io.out(`wrote ${f}`));
    });

  certs.command('add-host')
    .description('add names or addresses to the server certificate, keeping the CA: nodes need nothing new')
    .requiredOption('--host <name>', 'a DNS name or IP address clients will use (repeatable)', collect)
    .option('--dir <dir>', 'the certificate directory', 'certs')
    .option('--days <n>', `validity of the new server certificate in days (at most ${MAX_LEAF_DAYS})`, leafDays, 365)
    .addHelpText('after', '\nExample:\n  $ gateway certs add-host --host registry.lan --host 192.168.1.20\n' +
      'A running gateway picks the new certificate up within seconds.')
    .action(async (o: { dir: string; host: string[]; days: number }) => {
      const { addHosts } = await import('../certs/addHost.js');
      const result = await addHosts({ dir: o.dir, hosts: o.host, days: o.days }, certContext(io));
      if (result.added.length === 0) {
        io.out(`${o.dir}/server.crt already names ${o.host.join(', ')}; nothing changed`);
        return;
      }
      io.out(`added ${result.added.join(', ')}: server.crt now names ${result.hosts.join(', ')} (same CA: nodes need nothing new)`);
      result.written.forEach((f) => io.out(`wrote ${f}`));
    });

  certs.command('issue')
    .description('issue another certificate from the CA: extra server names, or a client certificate for mutual TLS')
    .requiredOption('--name <name>', 'file name: writes NAME.crt and NAME.key')
    .option('--host <name>', 'a DNS name or IP address (repeatable); server certificates default to --name', collect)
    .option('--client', 'a client certificate (extKeyUsage clientAuth) instead of a server one')
    .option('--days <n>', `validity in days (at most ${MAX_LEAF_DAYS})`, leafDays, 365)
    .option('--dir <dir>', 'the directory holding ca.crt and ca.key', 'certs')
    .option('--force', 'replace NAME.crt and NAME.key if they exist')
    .addOption(keyOption())
    .addHelpText('after', '\nExamples:\n' +
      '  $ gateway certs issue --name mirror --host mirror.registry.test\n' +
      '  $ gateway certs issue --name node1 --client')
    .action(async (o: IssueOptions) => {
      const { issueCert } = await import('../certs/issue.js');
      const result = await issueCert({
        dir: o.dir, name: o.name, hosts: o.host ?? [], client: Boolean(o.client), days: o.days, force: Boolean(o.force), keyType: o.key,
      }, certContext(io));
      result.written.forEach((f) => io.out(`wrote ${f}`));
    });

  certs.command('renew')
    .description('re-issue a certificate with the same names and CA and a fresh key (nodes need nothing new)')
    .option('--dir <dir>', 'the certificate directory', 'certs')
    .option('--name <name>', 'which certificate: NAME.crt', 'server')
    .option('--days <n>', `validity in days (at most ${MAX_LEAF_DAYS})`, leafDays, 365)
    .addHelpText('after', '\nExample:\n  $ gateway certs renew --dir certs')
    .action(async (o: { dir: string; name: string; days: number }) => {
      const { renewCert } = await import('../certs/issue.js');
      const result = await renewCert(o, certContext(io));
      io.out(`renewed ${o.name}.crt for ${result.hosts.join(', ')}, valid ${o.days} days`);
      result.written.forEach((f) => io.out(`wrote ${f}`));
    });

  certs.command('show')
    .description('show every certificate: names, validity, fingerprints, constraints; exit 1 if one is expired or does not chain to the CA')
    .option('--dir <dir>', 'the certificate directory', 'certs')
    .addOption(outputOption())
    // The flag of earlier versions, kept for the scripts that pass it.
    .addOption(new Option('--json', 'the same as -o json').hideHelp())
    .addHelpText('after', '\nExample:\n  $ gateway certs show --dir certs -o json')
    .action(async (o: { dir: string; json?: boolean; output: Format }) => {
      const { showCerts } = await import('../certs/show.js');
      const { reports, ok } = await showCerts(o.dir, new Date());
      const { readTrustPem } = await import('../certs/trustSet.js');
      const { createHash } = await import('node:crypto');
      // What the node setup command and install.sh check: the SHA-256 of the file /trust/ca.crt serves.
      const caFileSha256 = createHash('sha256').update(await readTrustPem(o.dir)).digest('hex');
      if (o.json || o.output === 'json') printJson(io, { dir: o.dir, ok, caFileSha256, certificates: reports });
      else {
        reports.forEach((r) => printReport(io, r));
        io.out(`CA file SHA-256: ${caFileSha256}  (sha256sum of /trust/ca.crt, the CA file nodes get: what the node setup command checks)`);
      }
      reports.flatMap((r) => r.warnings).forEach(io.warn);
      if (!ok) fail('CHECK_FAILED', `${reports.flatMap((r) => r.problems).length} problem(s) found in ${o.dir}`);
    });

  certs.addCommand(rolloverCommand(io));
  return certs;
}

/** `certs rollover start|switch|finish|status`: a new CA without a flag day (src/certs/rollover.ts). */
function rolloverCommand(io: Output): Command {
  const rollover = new Command('rollover')
    .description('replace the CA in three steps, none of which breaks a node that re-ran its setup once after the first')
    .addHelpText('after', '\nSteps:\n' +
      '  $ gateway certs rollover start    # new CA beside the old one; nodes are given both: re-run the node setup everywhere\n' +
      '  $ gateway certs rollover switch   # the new CA signs server.crt; the old one is still given to nodes\n' +
      '  $ gateway certs rollover finish   # nodes are given the new CA only\n' +
      'A running `gateway serve` picks up each step by itself (no restart).');
  const report = (r: import('../certs/rollover.js').RolloverResult) => {
    r.notes.forEach((n) => io.out(n));
    r.written.forEach((f) => io.out(`wrote ${f}`));
    r.removed.forEach((f) => io.out(`removed ${f}`));
  };
  rollover.command('start')
    .description('create ca-next.crt/ca-next.key, a new CA permitting what the current one does (and --permit); nodes are given both CAs')
    .option('--dir <dir>', 'the certificate directory', 'certs')
    .option('--ca-days <n>', 'new CA validity in days', wholeNumber('--ca-days', 1, 36500), 3650)
    .option('--permit <domain|cidr>', 'a domain or address range the new CA may sign for too (repeatable); ' +
      'it also permits what the current CA permits and private names and addresses', collect)
    .option('--exact-names', 'the new CA permits only what the current one does and --permit (no private names beyond them)')
    .action(async (o: { dir: string; caDays: number; permit?: string[]; exactNames?: boolean }) => {
      const { startRollover } = await import('../certs/rollover.js');
      report(await startRollover(o, certContext(io)));
    });
  rollover.command('switch')
    .description('make the new CA ca.crt and re-issue server.crt (and token.crt) from it; the old CA becomes ca-previous.crt')
    .option('--dir <dir>', 'the certificate directory', 'certs')
    .option('--days <n>', `validity of the re-issued server certificate in days (at most ${MAX_LEAF_DAYS})`, leafDays, 365)
    .action(async (o: { dir: string; days: number }) => {
      const { switchRollover } = await import('../certs/rollover.js');
      report(await switchRollover(o, certContext(io)));
    });
  rollover.command('finish')
    .description('remove ca-previous.crt: nodes are given the new CA only')
    .option('--dir <dir>', 'the certificate directory', 'certs')
    .action(async (o: { dir: string }) => {
      const { finishRollover } = await import('../certs/rollover.js');
      report(await finishRollover(o));
    });
  rollover.command('status')
    .description('which phase the rollover is in, and what to do next')
    .option('--dir <dir>', 'the certificate directory', 'certs')
    .action(async (o: { dir: string }) => {
      const { rolloverStatus } = await import('../certs/rollover.js');
      (await rolloverStatus(o.dir)).lines.forEach((l) => io.out(l));
    });
  return rollover;
}
