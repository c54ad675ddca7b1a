// `gateway certs init`: a private CA and the gateway's server certificate.
// Idempotent: it fills in what is missing, and replaces nothing without --force.
import { mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { fail } from '../errors.js';
import { writeFilesAtomically, type FileSpec } from '../util/atomicFiles.js';
import { buildCa, certToPem, type Issuer } from './build.js';
import { sanHosts } from './der.js';
import { defaultHosts, hostKey, parseHosts, wildcardWarnings, type Host } from './hosts.js';
import { issueLeaf, type Context } from './issue.js';
import { generateRsaKey, type LeafKeyType } from './keys.js';
import { constraintsFor, describeConstraint, parseConstraint, type NameConstraints } from './nameConstraints.js';
import { loadIssuer } from './issuer.js';
import { certPaths, pairFiles, pairState, readText } from './store.js';

export interface InitOptions {
  dir: string;
  hosts: string[];
  caDays: number;
  days: number;
  nameConstraints: boolean;
  /** Constrain the CA to the --host names only (no private names or addresses beyond them). */
  exactNames?: boolean;
  /** More domains or address ranges the CA may sign for (--permit). */
  permit?: string[];
  force: boolean;
  newCa: boolean;
  /** The server key; default RSA 2048. */
  keyType?: LeafKeyType;
}

export interface InitResult {
  changed: boolean;
  written: string[];
  notes: string[];
}

async function newIssuer(hosts: Host[], opts: InitOptions, ctx: Context, notes: string[]): Promise<{ issuer: Issuer; files: FileSpec[] }> {
  const policy = opts.exactNames ? 'exact' : 'private';
  const nc = opts.nameConstraints ? constraintsFor(hosts, policy, (opts.permit ?? []).map(parseConstraint)) : undefined;
  const key = await generateRsaKey(3072);
  const cert = buildCa(key, { days: opts.caDays, now: ctx.now, creator: ctx.creator, ...(nc ? { nameConstraints: nc } : {}) });
  notes.push(constraintNote(nc, policy));
  return { issuer: { cert, key }, files: pairFiles(certPaths(opts.dir, 'ca'), certToPem(cert), key.pem) };
}

// Said at every CA creation: what a leaked ca.key could sign, and so whether
// a name added later keeps the CA.
function constraintNote(nc: NameConstraints | undefined, policy: 'private' | 'exact'): string {
  if (!nc) {
    return 'name constraints: OFF (--no-name-constraints); ' +
      'this CA can sign for any name, so guard ca.key like a password to every node that trusts it';
  }
  const list = nc.permitted.map(describeConstraint).join(', ');
  return policy === 'exact'
    ? `name constraints: exact; this CA can only sign for ${list}. A name outside these needs a new CA (gateway certs rollover)`
    : `name constraints: private; this CA can sign only for private names and addresses and the names given: ${list}. ` +
      'Even with ca.key a public site cannot be impersonated, and names like these can be added later ' +
      'with the same CA (gateway certs add-host), so nodes need nothing new';
}

async function existingServerHosts(dir: string): Promise<string[]> {
  const pem = await readText(certPaths(dir, 'server').cert, 'server certificate');
  return sanHosts(new X509Certificate(pem).raw);
}

export async function initCerts(opts: InitOptions, ctx: Context): Promise<InitResult> {
  // Everything is validated and generated in memory before the first write, so
  // a bad input leaves the directory exactly as it was.
  const hosts = opts.hosts.length > 0 ? parseHosts(opts.hosts) : defaultHosts(ctx.warn);
  wildcardWarnings(hosts).forEach(ctx.warn);
  const ca = certPaths(opts.dir, 'ca');
  const server = certPaths(opts.dir, 'server');
  const [caState, serverState] = [await pairState(ca), await pairState(server)];
  const notes: string[] = [];

  if (caState === 'cert-only' || caState === 'key-only') {
    const missing = caState === 'cert-only' ? ca.key : ca.cert;
    if (!(opts.force && opts.newCa)) {
      fail('FILE_MISSING', `${missing} is missing while its pair exists; ` +
        `restore it, or replace the CA with --force --new-ca (every node must then be re-bundled)`);
    }
  }
  const rolling = ['ca-next.crt', 'ca-previous.crt'].filter((f) => existsSync(join(opts.dir, f)));
  if (opts.newCa && rolling.length > 0) {
    fail('FILE_EXISTS', `a CA rollover is in progress in ${opts.dir} (${rolling.join(', ')}); ` +
      "replacing the CA now would break nodes that took part: see 'gateway certs rollover status'");
  }
  if (caState !== 'none' && opts.newCa && !opts.force) {
    fail('FILE_EXISTS', `a CA already exists in ${opts.dir}; replacing it needs --force --new-ca, and every node must then be re-bundled`);
  }
  if (!opts.force && serverState !== 'none') {
    if (serverState !== 'both') {
      fail('FILE_MISSING', `${serverState === 'cert-only' ? server.key : server.cert} is missing while its pair exists; ` +
        `re-issue the pair with --force`);
    }
    if (caState === 'none') {
      fail('FILE_MISSING', `${server.cert} exists but there is no CA in ${opts.dir}; create one with --force --new-ca`);
    }
    const current = await existingServerHosts(opts.dir);
    const asked = hosts.map(hostKey);
    if (opts.hosts.length > 0 && (asked.length !== current.length || asked.some((h) => !current.includes(h)))) {
      fail('FILE_EXISTS', `${server.cert} is for ${current.join(', ')}, not ${asked.join(', ')}; ` +
        `add names with 'gateway certs add-host --dir ${opts.dir} --host NAME', or re-issue it for exactly these with --force (the CA is kept)`);
    }
    const note = `${opts.dir} already holds a CA and a server certificate for ${current.join(', ')}; ` +
      'nothing changed (use --force to re-issue the server certificate)';
    return { changed: false, written: [], notes: [note] };
  }

  const replaceCa = caState === 'none' || (opts.force && opts.newCa);
  let issuer: Issuer;
  const files: FileSpec[] = [];
  if (replaceCa) {
    const made = await newIssuer(hosts, opts, ctx, notes);
    issuer = made.issuer;
    files.push(...made.files);
    if (caState !== 'none') {
      notes.push('a NEW CA replaced the old one: every node must be re-bundled (gateway bundle) before it trusts the gateway again');
    }
  } else {
    issuer = await loadIssuer(opts.dir);
    const caOnly = [!opts.nameConstraints && '--no-name-constraints', opts.exactNames && '--exact-names', opts.permit?.length && '--permit']
      .filter(Boolean);
    if (caOnly.length > 0) {
      ctx.warn(`${caOnly.join(', ')} ${caOnly.length > 1 ? 'apply' : 'applies'} to a new CA only; ` +
        'the existing CA was kept as it is (gateway certs rollover replaces it without breaking nodes)');
    }
    notes.push(`kept the existing CA in ${ca.cert}; nodes that trust it need nothing new`);
  }
  const leaf = { usage: 'server' as const, hosts, days: opts.days, keyType: opts.keyType ?? 'rsa' };
  files.push(...(await issueLeaf(issuer, leaf, ctx, opts.dir, 'server')));
  notes.push(`server certificate for ${hosts.map(hostKey).join(', ')}, valid ${opts.days} days`);

  await mkdir(opts.dir, { recursive: true, mode: 0o755 });
  await writeFilesAtomically(files);
  return { changed: true, written: files.map((f) => f.path), notes };
}
