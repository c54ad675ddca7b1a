// `gateway certs rollover`: replacing the CA without a flag day, in three
// phases, each a state of the files in the certificate directory:
//
//   none      ca.crt signs; nodes are given ca.crt.
//   started   + ca-next.crt/.key: nodes are given both CAs (trustSet.ts);
//             server.crt is still from ca.crt. Every node re-runs its setup.
//   switched  ca.crt/.key is the new CA and signs server.crt (and token.crt);
//             the old certificate is ca-previous.crt, still given to nodes so
//             a node set up with the old CA alone keeps trusting /trust/
//             until its re-setup. The old KEY is not kept: nothing may be
//             signed with it any more, and a key that signs nothing is only a
//             liability (whoever steals it can sign for the registry's names
//             until every node forgets the old CA).
//   finish    ca-previous.crt is removed: nodes are given the new CA alone.
//
// Every step writes with writeFilesAtomically and removes ca-next.* last, so
// an interrupted `switch` is found (phase 'switching') and completed by
// running it again: ca-next.crt/.key stay until everything else is in place.
import { X509Certificate, createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fail } from '../errors.js';
import { writeFilesAtomically, type FileSpec } from '../util/atomicFiles.js';
import { buildCa, certToPem, type Issuer } from './build.js';
import { readNameConstraints } from './inspect.js';
import { reissueFiles, type Context } from './issue.js';
import { parseCertificate } from './issuer.js';
import { generateRsaKey, keyMatchesCertificate, rsaKeyFromPem } from './keys.js';
import { buildLeaf } from './leaf.js';
import { constraintsFor, describeConstraint, parseConstraint, type NameConstraints } from './nameConstraints.js';
import { CERT_MODE, KEY_MODE, certPaths, exists, pairFiles, pairState, readText, type CertPaths } from './store.js';
import { readTrustPem } from './trustSet.js';

export type Phase = 'none' | 'started' | 'switching' | 'switched';

const paths = (dir: string) => ({
  ca: certPaths(dir, 'ca'),
  next: certPaths(dir, 'ca-next'),
  previous: certPaths(dir, 'ca-previous'),
});

const sameCert = (a: string, b: string) => new X509Certificate(a).fingerprint256 === new X509Certificate(b).fingerprint256;

/** Which phase the files are in; refuses a state no rollover step leaves behind. */
export async function rolloverPhase(dir: string): Promise<Phase> {
  const p = paths(dir);
  const ca = await pairState(p.ca);
  if (ca === 'none') fail('FILE_MISSING', `no CA in ${dir} (${p.ca.cert}); create one with 'gateway certs init --dir ${dir}'`);
  if (ca !== 'both') {
    fail('FILE_MISSING', `${ca === 'cert-only' ? p.ca.key : p.ca.cert} is missing while its pair exists; restore it from a backup`);
  }
  const [next, previous] = [await pairState(p.next), await exists(p.previous.cert)];
  if (next === 'none') return previous ? 'switched' : 'none';
  const caPem = await readText(p.ca.cert, 'CA certificate');
  if (next === 'cert-only' && previous && sameCert(await readText(p.next.cert, 'next CA'), caPem)) {
    return 'switching'; // only the leftover ca-next.crt of a switch is still to go
  }
  if (next !== 'both') {
    fail('FILE_MISSING', `${next === 'cert-only' ? p.next.key : p.next.cert} is missing while its pair exists ` +
      `(an interrupted 'rollover start'?); remove ${p.next.cert} and ${p.next.key}, run 'gateway certs rollover start' again, ` +
      'and re-run the node setup on every node once more');
  }
  if (!previous) return 'started';
  const [nextPem, previousPem] = [await readText(p.next.cert, 'next CA'), await readText(p.previous.cert, 'previous CA')];
  if (sameCert(previousPem, caPem) || sameCert(nextPem, caPem)) return 'switching';
  return fail('FILE_INVALID', `${p.next.cert} and ${p.previous.cert} both exist and neither is ${p.ca.cert}: ` +
    'this is no state a rollover step leaves; compare them with \'gateway certs show\' and remove the one that is not in use');
}

/** A CA pair read back and checked, as loadIssuer does for ca.crt. */
async function loadPair(pair: CertPaths, what: string): Promise<Issuer & { certPem: string }> {
  const [certPem, keyPem] = [await readText(pair.cert, `${what} certificate`), await readText(pair.key, `${what} key`)];
  const cert = parseCertificate(certPem, pair.cert);
  if (!keyMatchesCertificate(keyPem, certPem)) {
    fail('FILE_INVALID', `${pair.key} does not belong to ${pair.cert}; restore the matching key from a backup`);
  }
  return { cert, key: rsaKeyFromPem(keyPem), certPem };
}

const trustSha256 = async (dir: string) => createHash('sha256').update(await readTrustPem(dir)).digest('hex');

export interface RolloverResult {
  phase: Phase;
  written: string[];
  removed: string[];
  notes: string[];
}

// What the next step is, said the same way by every command and by status.
const NEXT: Record<Phase, string> = {
  none: "no CA rollover in progress; start one with 'gateway certs rollover start'",
  started: 're-run the node setup on every node now (the command `gateway serve` prints, or `gateway bundle` and its ' +
    "install.sh): it installs both CAs. Then switch with 'gateway certs rollover switch'",
  switching: "a 'rollover switch' was interrupted; run 'gateway certs rollover switch' again to complete it",
  switched: 'server.crt is from the new CA now. A node that fails with "x509: certificate signed by unknown authority" ' +
    'never re-ran its setup: run the setup there (the command `gateway serve` prints now). ' +
    "Then drop the old CA with 'gateway certs rollover finish'",
};

const WRONG_PHASE: Record<Phase, string> = {
  none: "no CA rollover is in progress; start one with 'gateway certs rollover start'",
  started: "the rollover is started (ca-next.crt) but not switched; run 'gateway certs rollover switch' first",
  switching: NEXT.switching,
  switched: "the rollover is switched (ca-previous.crt); complete it with 'gateway certs rollover finish' first",
};

function constraintsOf(caPem: string, path: string): NameConstraints | undefined {
  const nc = readNameConstraints(new X509Certificate(caPem));
  const unknown = nc ? [...nc.permitted, ...nc.excluded].filter((c) => c.kind === 'other') : [];
  if (unknown.length > 0) {
    fail('FILE_INVALID', `${path} has name constraints of a kind this tool cannot copy (${unknown.map(describeConstraint).join(', ')}); ` +
      "replace the CA with 'gateway certs init --force --new-ca' instead");
  }
  return nc;
}

/**
 * The new CA's constraints: what the current CA permits, plus --permit, plus
 * (unless --exact-names) the private names and addresses of the default
 * policy, so that a rollover is also how a CA made with narrower constraints
 * gains room for later names. An unconstrained CA stays unconstrained.
 */
function nextConstraints(current: NameConstraints | undefined, permit: readonly string[], exact: boolean): NameConstraints | undefined {
  if (!current) return undefined;
  return constraintsFor([], exact ? 'exact' : 'private', [...current.permitted, ...permit.map(parseConstraint)]);
}

/** Phase none -> started: a new CA beside the current one, permitting at least what the current one does. */
export async function startRollover(
  opts: { dir: string; caDays: number; permit?: string[]; exactNames?: boolean }, ctx: Context,
): Promise<RolloverResult> {
  const phase = await rolloverPhase(opts.dir);
  if (phase !== 'none') fail('FILE_EXISTS', `a CA rollover is already in progress in ${opts.dir}: ${NEXT[phase]}`);
  const p = paths(opts.dir);
  await loadPair(p.ca, 'CA'); // the current CA must be usable: the switch re-issues with the new one only
  const nc = nextConstraints(constraintsOf(await readText(p.ca.cert, 'CA certificate'), p.ca.cert), opts.permit ?? [], Boolean(opts.exactNames));
  if (!nc && opts.permit?.length) ctx.warn('--permit has no effect: the current CA has no name constraints, and neither will the new one');
  const key = await generateRsaKey(3072);
  const cert = buildCa(key, { days: opts.caDays, now: ctx.now, creator: ctx.creator, ...(nc ? { nameConstraints: nc } : {}) });
  const files = pairFiles(p.next, certToPem(cert), key.pem);
  await writeFilesAtomically(files);
  const fingerprint = new X509Certificate(certToPem(cert)).fingerprint256;
  return {
    phase: 'started',
    written: files.map((f) => f.path),
    removed: [],
    notes: [
      `new CA ${p.next.cert} (SHA-256 ${fingerprint}), valid ${opts.caDays} days, name constraints ` +
        (nc ? `${nc.permitted.map(describeConstraint).join(', ') || '(none permitted)'}` : 'none, as the current CA'),
      `nodes are now given both CAs; the node setup command pins the bundle's SHA-256 ${await trustSha256(opts.dir)}`,
      `server.crt is still from the current CA: nothing breaks yet. Next: ${NEXT.started}`,
    ],
  };
}

/**
 * token.crt for the same token.key, from the new CA: the key (and so every
 * token's kid) stays, only its chain changes. As ensureSigningKey makes it.
 */
async function reissueTokenCert(issuer: Issuer & { certPem: string }, dir: string, now: Date): Promise<FileSpec[]> {
  const token = certPaths(dir, 'token');
  if ((await pairState(token)) !== 'both') return [];
  const publicKey = createPublicKey(createPrivateKey(await readText(token.key, 'token signing key')));
  const pem = await buildLeaf(publicKey, { certPem: issuer.certPem, keyPem: issuer.key.pem }, {
    usage: 'token-signing',
    hosts: [],
    now,
    notAfter: new Date(new X509Certificate(issuer.certPem).validTo),
    subject: [['O', 'registry-gateway'], ['CN', 'registry-gateway token signer']],
  });
  return [{ path: token.cert, content: pem, mode: CERT_MODE }];
}

const MANAGED = new Set(['ca', 'ca-next', 'ca-previous', 'server', 'token']);

/** Other server and client certificates the old CA signed: `certs renew --name` moves each to the new CA. */
async function othersFrom(dir: string, oldPem: string): Promise<string[]> {
  const old = new X509Certificate(oldPem);
  const names = (await readdir(dir)).filter((f) => f.endsWith('.crt')).map((f) => f.slice(0, -4)).filter((n) => !MANAGED.has(n));
  const out: string[] = [];
  for (const name of names.sort()) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(await readText(join(dir, `${name}.crt`), name));
    } catch {
      continue; // not a certificate: `certs show` reports it
    }
    // Retired token certificates (no extKeyUsage) only verify old tokens until they expire: nothing to renew.
    const tls = (cert.keyUsage ?? []).some((u) => u === '1.3.6.1.5.5.7.3.1' || u === '1.3.6.1.5.5.7.3.2');
    if (!cert.ca && tls && cert.checkIssued(old) && cert.verify(old.publicKey)) out.push(name);
  }
  return out;
}

/** Phase started -> switched: the new CA signs; the old certificate stays trusted as ca-previous.crt. */
export async function switchRollover(opts: { dir: string; days: number }, ctx: Context): Promise<RolloverResult> {
  const phase = await rolloverPhase(opts.dir);
  if (phase !== 'started' && phase !== 'switching') fail('INVALID_ARGUMENT', `cannot switch in ${opts.dir}: ${WRONG_PHASE[phase]}`);
  const p = paths(opts.dir);
  if (!(await exists(p.next.key))) return removeNext(opts.dir, p, []); // a switch interrupted at its last removal
  const serverState = await pairState(certPaths(opts.dir, 'server'));
  if (serverState === 'cert-only' || serverState === 'key-only') {
    fail('FILE_MISSING', `server.crt or server.key is missing in ${opts.dir} while the other exists; ` +
      "re-issue the pair with 'gateway certs renew' before switching");
  }
  const next = await loadPair(p.next, 'next CA');
  const caPem = await readText(p.ca.cert, 'CA certificate');
  // Resuming after ca.crt was already replaced: the old CA is the one kept as ca-previous.crt.
  const oldPem = sameCert(caPem, next.certPem) ? await readText(p.previous.cert, 'previous CA') : caPem;
  const leaves = [
    ...(serverState === 'both' ? (await reissueFiles(next, opts.dir, 'server', opts.days, ctx)).files : []),
    ...(await reissueTokenCert(next, opts.dir, ctx.now)),
  ];
  // Order matters to a running gateway that polls these files: the leaves
  // before ca.crt, and ca-previous.crt first, so every moment's CA set holds
  // both CAs (trustSet.ts) and the switch is complete when ca.crt changes.
  const files: FileSpec[] = [
    { path: p.previous.cert, content: oldPem, mode: CERT_MODE },
    ...leaves,
    { path: p.ca.key, content: next.key.pem, mode: KEY_MODE },
    { path: p.ca.cert, content: next.certPem, mode: CERT_MODE },
  ];
  await writeFilesAtomically(files);
  const others = await othersFrom(opts.dir, oldPem);
  const notes = [
    `${p.ca.cert} is the new CA and signs ${leaves.map((f) => f.path).filter((f) => f.endsWith('.crt')).join(', ') || 'nothing yet'}; ` +
      `the old CA certificate is ${p.previous.cert} (its key is deleted: it signs nothing any more)`,
    ...others.map((n) => `${n}.crt is still from the old CA: re-issue it with 'gateway certs renew --dir ${opts.dir} --name ${n}'`),
  ];
  return removeNext(opts.dir, p, files.map((f) => f.path), notes);
}

async function removeNext(dir: string, p: ReturnType<typeof paths>, written: string[], notes: string[] = []): Promise<RolloverResult> {
  const removed: string[] = [];
  // The key first: a leftover ca-next.crt alone is recognised as this step's ('switching').
  for (const path of [p.next.key, p.next.cert]) {
    if (await exists(path)) {
      await rm(path);
      removed.push(path);
    }
  }
  notes.push(`nodes are given the new and the old CA; the node setup command pins SHA-256 ${await trustSha256(dir)}`);
  notes.push(`Next: ${NEXT.switched}`);
  return { phase: 'switched', written, removed, notes };
}

/** Phase switched -> none: the old CA is no longer given to nodes. */
export async function finishRollover(opts: { dir: string }): Promise<RolloverResult> {
  const phase = await rolloverPhase(opts.dir);
  if (phase !== 'switched') fail('INVALID_ARGUMENT', `cannot finish in ${opts.dir}: ${WRONG_PHASE[phase]}`);
  const p = paths(opts.dir);
  const server = certPaths(opts.dir, 'server').cert;
  if (await exists(server)) {
    const [leaf, ca] = [new X509Certificate(await readText(server, 'server certificate')), new X509Certificate(await readText(p.ca.cert, 'CA'))];
    if (!(leaf.checkIssued(ca) && leaf.verify(ca.publicKey))) {
      fail('CHECK_FAILED', `${server} is not signed by ${p.ca.cert}: finishing would leave no node trusting it; ` +
        `re-issue it with 'gateway certs renew --dir ${opts.dir}' first`);
    }
  }
  await rm(p.previous.cert);
  return {
    phase: 'none',
    written: [],
    removed: [p.previous.cert],
    notes: [
      `nodes are now given the new CA only; the node setup command pins SHA-256 ${await trustSha256(opts.dir)}`,
      'nodes that still hold the old CA are safe (its key is gone); re-running the setup there drops it',
    ],
  };
}

/** `rollover status`: the phase and what to do next. */
export async function rolloverStatus(dir: string): Promise<{ phase: Phase; lines: string[] }> {
  const phase = await rolloverPhase(dir);
  const p = paths(dir);
  const described: Record<Phase, string> = {
    none: `phase: none; ${p.ca.cert} signs and is the only CA given to nodes`,
    started: `phase: started (1 of 3); nodes are given ${p.ca.cert} and ${p.next.cert}; server.crt is still from ${p.ca.cert}`,
    switching: 'phase: switch interrupted (between 1 and 2)',
    switched: `phase: switched (2 of 3); ${p.ca.cert} is the new CA and signs server.crt; nodes are given it and ${p.previous.cert}`,
  };
  return { phase, lines: [described[phase], `node setup pins SHA-256 ${await trustSha256(dir)}`, `next: ${NEXT[phase]}`] };
}
