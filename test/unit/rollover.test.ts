// The CA rollover's phases as states of a certificate directory: what each
// step writes, what nodes are given (readTrustPem) at each, and the refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPublicKey, createPrivateKey } from 'node:crypto';
import { copyFile, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildCa, certToPem } from '../../src/certs/build.js';
import { sanHosts } from '../../src/certs/der.js';
import { parseHosts } from '../../src/certs/hosts.js';
import { readNameConstraints } from '../../src/certs/inspect.js';
import { issueLeaf, type Context } from '../../src/certs/issue.js';
import { generateRsaKey } from '../../src/certs/keys.js';
import { constraintsFor, permits } from '../../src/certs/nameConstraints.js';
import {
  finishRollover, rolloverPhase, rolloverStatus, startRollover, switchRollover,
} from '../../src/certs/rollover.js';
import { certPaths, pairFiles } from '../../src/certs/store.js';
import { readTrustPem } from '../../src/certs/trustSet.js';
import { ensureSigningKey } from '../../src/token/keyring.js';
import { writeFilesAtomically } from '../../src/util/atomicFiles.js';
import { GatewayError } from '../../src/errors.js';
import { tempDir } from '../helpers/tmp.js';

const t0 = new Date();
// A minute later: the new CA's subject (which names the moment) differs from the old one's.
const ctx: Context = { now: new Date(t0.getTime() + 60_000), creator: 'test@host', warn: () => {} };
const hosts = parseHosts(['registry.test', '10.0.0.5']);

/** A directory as `certs init` leaves it, plus token.crt and a client certificate node1.crt. */
async function certDir(opts: { constraints?: boolean; exact?: boolean; caDays?: number } = {}): Promise<string> {
  const dir = await tempDir();
  const key = await generateRsaKey(3072);
  const nc = opts.constraints === false ? undefined : constraintsFor(hosts, opts.exact ? 'exact' : 'private');
  const ca = buildCa(key, { days: opts.caDays ?? 3650, now: t0, creator: 'test@host', ...(nc ? { nameConstraints: nc } : {}) });
  const issuer = { cert: ca, key };
  const c0 = { ...ctx, now: t0 };
  await writeFilesAtomically([
    ...pairFiles(certPaths(dir, 'ca'), certToPem(ca), key.pem),
    ...(await issueLeaf(issuer, { usage: 'server', hosts, days: 300, keyType: 'ecdsa' }, c0, dir, 'server')),
    ...(await issueLeaf(issuer, { usage: 'client', hosts: [], days: 300, commonName: 'node1' }, c0, dir, 'node1')),
  ]);
  await ensureSigningKey(join(dir, 'token.key'), dir);
  return dir;
}

const cert = async (dir: string, name: string) => new X509Certificate(await readFile(join(dir, `${name}.crt`), 'utf8'));
const signedBy = (leaf: X509Certificate, ca: X509Certificate) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey);
/** The fingerprints of the CAs nodes are given, in order. */
const given = async (dir: string) => (await readTrustPem(dir)).split(/(?<=-----END CERTIFICATE-----\n)/)
  .filter((s) => s.trim()).map((pem) => new X509Certificate(pem).fingerprint256);
const snapshot = async (dir: string) => Object.fromEntries(await Promise.all(
  (await readdir(dir)).sort().map(async (f) => [f, await readFile(join(dir, f), 'utf8')] as const)));

async function refuses(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof GatewayError && err.code === code && message.test(err.message));
}

test('start, switch, finish: what nodes are given and what signs server.crt at each phase', async () => {
  const dir = await certDir();
  const old = await cert(dir, 'ca');
  const oldServer = await cert(dir, 'server');
  const tokenKey = createPublicKey(createPrivateKey(await readFile(join(dir, 'token.key'), 'utf8')));
  assert.equal(await rolloverPhase(dir), 'none');
  assert.deepEqual(await given(dir), [old.fingerprint256]);

  const started = await startRollover({ dir, caDays: 1000 }, ctx);
  assert.equal(started.phase, 'started');
  const next = await cert(dir, 'ca-next');
  assert.ok(next.ca && next.fingerprint256 !== old.fingerprint256);
  assert.equal(next.publicKey.asymmetricKeyDetails?.modulusLength, 3072);
  assert.deepEqual(readNameConstraints(next), readNameConstraints(old), 'the same name constraints as the current CA');
  assert.deepEqual(await given(dir), [old.fingerprint256, next.fingerprint256], 'both CAs, the signing one first');
  assert.equal((await cert(dir, 'server')).fingerprint256, oldServer.fingerprint256, 'server.crt untouched');
  assert.equal(await rolloverPhase(dir), 'started');
  assert.match(started.notes.join('\n'), /re-run the node setup on every node.*rollover switch/s);

  const nextKey = await readFile(join(dir, 'ca-next.key'), 'utf8');
  const switched = await switchRollover({ dir, days: 200 }, ctx);
  assert.equal(await rolloverPhase(dir), 'switched');
  const [ca, previous, server, token] = [await cert(dir, 'ca'), await cert(dir, 'ca-previous'), await cert(dir, 'server'), await cert(dir, 'token')];
  assert.equal(ca.fingerprint256, next.fingerprint256, 'the new CA is ca.crt');
  assert.equal(previous.fingerprint256, old.fingerprint256, 'the old one ca-previous.crt');
  assert.equal(await readFile(join(dir, 'ca.key'), 'utf8'), nextKey, 'ca.key is the new key');
  const files = await readdir(dir);
  assert.ok(!files.includes('ca-next.crt') && !files.includes('ca-next.key') && !files.includes('ca-previous.key'), files.join(' '));
  assert.ok(signedBy(server, ca) && !signedBy(server, old));
  assert.deepEqual(sanHosts(server.raw), sanHosts(oldServer.raw), 'the same names');
  assert.equal(server.publicKey.asymmetricKeyType, 'ec', 'the same key type');
  assert.notEqual(server.fingerprint256, oldServer.fingerprint256);
  assert.ok(signedBy(token, ca) && token.publicKey.equals(tokenKey), 'token.crt from the new CA, for the same key');
  assert.deepEqual(await given(dir), [ca.fingerprint256, old.fingerprint256]);
  assert.match(switched.notes.join('\n'), /node1\.crt is still from the old CA: .*certs renew --dir .* --name node1/);
  assert.doesNotMatch(switched.notes.join('\n'), /token\.crt is still/);

  await finishRollover({ dir });
  assert.equal(await rolloverPhase(dir), 'none');
  assert.deepEqual(await given(dir), [ca.fingerprint256], 'the new CA alone');
  assert.ok(!(await readdir(dir)).includes('ca-previous.crt'));
});

test('a CA without name constraints is followed by one without', async () => {
  const dir = await certDir({ constraints: false });
  await startRollover({ dir, caDays: 100 }, ctx);
  assert.equal(readNameConstraints(await cert(dir, 'ca-next')), undefined);
});

test('steps out of order are refused and change nothing', async () => {
  const dir = await certDir();
  const before = await snapshot(dir);
  await refuses(switchRollover({ dir, days: 30 }, ctx), 'INVALID_ARGUMENT', /no CA rollover is in progress.*rollover start/);
  await refuses(finishRollover({ dir }), 'INVALID_ARGUMENT', /no CA rollover is in progress/);
  assert.deepEqual(await snapshot(dir), before);
  await startRollover({ dir, caDays: 100 }, ctx);
  const started = await snapshot(dir);
  await refuses(startRollover({ dir, caDays: 100 }, ctx), 'FILE_EXISTS', /already in progress.*rollover switch/s);
  await refuses(finishRollover({ dir }), 'INVALID_ARGUMENT', /not switched; run 'gateway certs rollover switch' first/);
  assert.deepEqual(await snapshot(dir), started);
  await switchRollover({ dir, days: 30 }, ctx);
  await refuses(startRollover({ dir, caDays: 100 }, ctx), 'FILE_EXISTS', /rollover finish/);
  await refuses(switchRollover({ dir, days: 30 }, ctx), 'INVALID_ARGUMENT', /switched.*rollover finish/);
  assert.match((await rolloverStatus(dir)).lines.join('\n'), /phase: switched.*x509: certificate signed by unknown authority/s);
});

test('half-present files are refused with the fix', async () => {
  const dir = await certDir();
  await startRollover({ dir, caDays: 100 }, ctx);
  await rm(join(dir, 'ca-next.key'));
  await refuses(rolloverPhase(dir), 'FILE_MISSING', /ca-next\.key is missing.*remove .*ca-next\.crt.*rollover start' again/s);
  await refuses(switchRollover({ dir, days: 30 }, ctx), 'FILE_MISSING', /ca-next\.key is missing/);

  const other = await certDir();
  await startRollover({ dir: other, caDays: 100 }, ctx);
  await copyFile(join(other, 'ca-next.crt'), join(other, 'ca-previous.crt'));
  await rm(join(other, 'ca-next.crt'));
  await writeFile(join(other, 'ca-next.crt'), await readFile(join(dir, 'ca.crt'), 'utf8'));
  await refuses(rolloverPhase(other), 'FILE_INVALID', /neither is .*ca\.crt/);

  const noKey = await certDir();
  await rm(join(noKey, 'ca.key'));
  await refuses(startRollover({ dir: noKey, caDays: 100 }, ctx), 'FILE_MISSING', /ca\.key is missing/);
});

test('a switch that cannot complete writes nothing', async () => {
  // The new CA expires before the server certificate asked for would: issueLeaf refuses it.
  const dir = await certDir();
  await startRollover({ dir, caDays: 10 }, ctx);
  const before = await snapshot(dir);
  await refuses(switchRollover({ dir, days: 365 }, ctx), 'INVALID_ARGUMENT', /outlives the CA/);
  assert.deepEqual(await snapshot(dir), before);
  assert.equal(await rolloverPhase(dir), 'started');
});

test('an interrupted switch is found and completed by running switch again', async () => {
  // Interrupted before ca.crt was replaced: ca-previous.crt is a copy of ca.crt.
  const early = await certDir();
  const old = await cert(early, 'ca');
  await startRollover({ dir: early, caDays: 100 }, ctx);
  const next = await cert(early, 'ca-next');
  await copyFile(join(early, 'ca.crt'), join(early, 'ca-previous.crt'));
  assert.equal(await rolloverPhase(early), 'switching');
  assert.match((await rolloverStatus(early)).lines.join('\n'), /interrupted.*rollover switch' again/s);
  await switchRollover({ dir: early, days: 30 }, ctx);
  assert.equal(await rolloverPhase(early), 'switched');
  assert.equal((await cert(early, 'ca')).fingerprint256, next.fingerprint256);
  assert.equal((await cert(early, 'ca-previous')).fingerprint256, old.fingerprint256);
  assert.ok(signedBy(await cert(early, 'server'), next));

  // Interrupted after ca.crt was replaced, before ca-next.* were removed.
  const late = await certDir();
  const lateOld = await cert(late, 'ca');
  await startRollover({ dir: late, caDays: 100 }, ctx);
  const saved = { crt: await readFile(join(late, 'ca-next.crt'), 'utf8'), key: await readFile(join(late, 'ca-next.key'), 'utf8') };
  await switchRollover({ dir: late, days: 30 }, ctx);
  await writeFile(join(late, 'ca-next.crt'), saved.crt);
  assert.equal(await rolloverPhase(late), 'switching', 'ca-next.crt alone, left by the last removal');
  await writeFile(join(late, 'ca-next.key'), saved.key, { mode: 0o600 });
  assert.equal(await rolloverPhase(late), 'switching', 'both ca-next files, equal to ca.crt');
  await switchRollover({ dir: late, days: 30 }, ctx);
  assert.equal(await rolloverPhase(late), 'switched');
  assert.equal((await cert(late, 'ca-previous')).fingerprint256, lateOld.fingerprint256, 'the old CA is still the one kept');
  assert.ok(signedBy(await cert(late, 'server'), await cert(late, 'ca')));
  assert.deepEqual(await given(late), [(await cert(late, 'ca')).fingerprint256, lateOld.fingerprint256]);
});

test('a rollover is how an exact-names CA gains room: the new CA permits the old names, --permit and private names', async () => {
  const dir = await certDir({ exact: true });
  const old = readNameConstraints(await cert(dir, 'ca'));
  const may = (nc: typeof old, h: string) => permits(nc, parseHosts([h])[0]!);
  assert.ok(!may(old, 'registry.lan') && !may(old, 'git.corp.example.com'));
  await startRollover({ dir, caDays: 1000, permit: ['corp.example.com'] }, ctx);
  const next = readNameConstraints(await cert(dir, 'ca-next'));
  for (const h of ['registry.test', 'mirror.registry.test', '10.0.0.5', 'registry.lan', '192.168.1.9', 'git.corp.example.com']) assert.ok(may(next, h), h);
  for (const h of ['example.com', '8.8.8.8']) assert.ok(!may(next, h), h);

  const strict = await certDir({ exact: true });
  await startRollover({ dir: strict, caDays: 1000, exactNames: true }, ctx);
  const same = readNameConstraints(await cert(strict, 'ca-next'));
  assert.ok(!may(same, 'registry.lan'), '--exact-names adds no private names');
  assert.ok(may(same, '10.0.0.5') && may(same, 'registry.test'));
});
