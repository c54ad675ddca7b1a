// Issuing leaf certificates from an existing CA: the server certificate (by
// init and renew) and extra server or client certificates (by `certs issue`).
import { X509Certificate } from 'node:crypto';
import { fail } from '../errors.js';
import { writeFilesAtomically, type FileSpec } from '../util/atomicFiles.js';
import { certToPem, type Issuer } from './build.js';
import { buildLeaf } from './leaf.js';
import { sanHosts } from './der.js';
import { hostKey, parseHost, parseHosts, type Host } from './hosts.js';
import { daysLeft, readNameConstraints } from './inspect.js';
import { generateLeafKey, type LeafKeyType } from './keys.js';
import { describeConstraint, permits } from './nameConstraints.js';
import { loadIssuer } from './issuer.js';
import { certPaths, pairFiles, pairState, readText } from './store.js';

export interface Context {
  now: Date;
  /** "user@host", recorded in every certificate's subject. */
  creator: string;
  warn: (message: string) => void;
}

export interface LeafRequest {
  usage: 'server' | 'client';
  hosts: Host[];
  days: number;
  commonName?: string;
  /** Default RSA 2048. */
  keyType?: LeafKeyType;
}

/** Refuses what clients would reject: names outside the CA's constraints, a leaf that outlives its CA. */
export function checkIssuable(issuer: Issuer, req: LeafRequest, dir: string, now: Date): void {
  const ca = new X509Certificate(certToPem(issuer.cert));
  const nc = readNameConstraints(ca);
  const outside = req.hosts.filter((h) => !permits(nc, h));
  if (nc && outside.length > 0) {
    fail('NAME_NOT_PERMITTED',
      `${outside.map(hostKey).join(', ')} ${outside.length > 1 ? 'are' : 'is'} outside the CA's name constraints ` +
      `(${nc.permitted.map(describeConstraint).join(', ') || 'none permitted'}); ` +
      'clients would reject the certificate. Move to a CA that permits it without breaking nodes: ' +
      `'gateway certs rollover start --dir ${dir} --permit ${hostKey(outside[0]!)}' (README: CA rollover)`);
  }
  const left = daysLeft(ca, now);
  if (req.days > left) {
    fail('INVALID_ARGUMENT', `--days ${req.days} outlives the CA, which expires in ${left} day(s); ` +
      `use --days ${Math.max(left, 1)} or less, or create a new CA with 'gateway certs init --force --new-ca'`);
  }
}

/** Builds a new key and certificate; returns the files to write. */
export async function issueLeaf(issuer: Issuer, req: LeafRequest, ctx: Context, dir: string, name: string) {
  checkIssuable(issuer, req, dir, ctx.now);
  const key = await generateLeafKey(req.keyType ?? 'rsa');
  // A server certificate's CN repeats its first DNS name, for people reading it;
  // with a DNS SAN present no client (nor OpenSSL's constraint check) uses it
  // (Go stopped reading the CN in 1.15).
  const firstDns = req.hosts.find((h) => h.kind === 'dns');
  const commonName = req.commonName ?? (req.usage === 'server' && firstDns ? hostKey(firstDns) : undefined);
  const subject: [string, string][] = [
    ['O', req.usage === 'server' ? 'registry-gateway server' : 'registry-gateway client'],
    ['OU', ctx.creator],
    ...(commonName ? [['CN', commonName] as [string, string]] : []),
  ];
  const pem = await buildLeaf(key.publicKey, { certPem: certToPem(issuer.cert), keyPem: issuer.key.pem }, {
    usage: req.usage, hosts: req.hosts, days: req.days, now: ctx.now, subject,
  });
  return pairFiles(certPaths(dir, name), pem, key.pem);
}

const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export interface IssueOptions {
  dir: string;
  name: string;
  hosts: string[];
  client: boolean;
  days: number;
  force: boolean;
  keyType: LeafKeyType;
}

export async function issueCert(opts: IssueOptions, ctx: Context): Promise<{ written: string[] }> {
  if (!NAME.test(opts.name)) {
    fail('INVALID_ARGUMENT', `invalid --name '${opts.name}': ` +
      `use lower-case letters, digits, '-' and '_' (it names the files NAME.crt and NAME.key)`);
  }
  if (opts.name === 'ca' || opts.name === 'server') {
    fail('INVALID_ARGUMENT', `--name ${opts.name} is reserved for the files 'certs init' manages; ` +
      `use 'gateway certs renew' for server.crt, or pick another name`);
  }
  let hosts = parseHosts(opts.hosts);
  if (!opts.client && hosts.length === 0) {
    try {
      hosts = [parseHost(opts.name)];
    } catch {
      fail('INVALID_ARGUMENT', `a server certificate needs at least one --host (the names clients connect to)`);
    }
  }
  const paths = certPaths(opts.dir, opts.name);
  if (!opts.force && (await pairState(paths)) !== 'none') {
    fail('FILE_EXISTS', `${paths.cert} or ${paths.key} already exists; pass --force to replace it`);
  }
  const issuer = await loadIssuer(opts.dir);
  const files = await issueLeaf(issuer, {
    usage: opts.client ? 'client' : 'server',
    hosts,
    days: opts.days,
    keyType: opts.keyType,
    // Client certificates identify the node by CN; server ones by SAN only.
    ...(opts.client ? { commonName: opts.name } : {}),
  }, ctx, opts.dir, opts.name);
  await writeFilesAtomically(files);
  return { written: files.map((f) => f.path) };
}

/**
 * The files of NAME.crt re-issued by `issuer` with a fresh key and the same
 * usage, CN and key type, for its names plus `extraHosts`: renewal, added
 * names and a CA rollover's switch all keep what clients already rely on.
 */
export async function reissueFiles(
  issuer: Issuer, dir: string, name: string, days: number, ctx: Context, extraHosts: readonly string[] = [],
): Promise<{ files: FileSpec[]; hosts: string[] }> {
  const current = new X509Certificate(await readText(certPaths(dir, name).cert, `certificate '${name}'`));
  const usages = current.keyUsage ?? [];
  const client = usages.includes('1.3.6.1.5.5.7.3.2') && !usages.includes('1.3.6.1.5.5.7.3.1');
  const cn = /^CN=(.*)$/m.exec(current.subject)?.[1];
  const hosts = parseHosts([...sanHosts(current.raw), ...extraHosts]);
  const files = await issueLeaf(issuer, {
    usage: client ? 'client' : 'server',
    hosts,
    days,
    keyType: current.publicKey.asymmetricKeyType === 'ec' ? 'ecdsa' : 'rsa',
    ...(client && cn ? { commonName: cn } : {}),
  }, ctx, dir, name);
  return { files, hosts: hosts.map(hostKey) };
}

/** Re-issues a certificate with the same names, usage, key type and CA, and a fresh key: nodes need nothing new. */
export async function renewCert(
  opts: { dir: string; name: string; days: number }, ctx: Context,
): Promise<{ written: string[]; hosts: string[] }> {
  const { files, hosts } = await reissueFiles(await loadIssuer(opts.dir), opts.dir, opts.name, opts.days, ctx);
  await writeFilesAtomically(files);
  return { written: files.map((f) => f.path), hosts };
}
