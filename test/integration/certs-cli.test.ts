// `gateway certs` as a user runs it: exit codes, files, modes, idempotence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFile, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { certToPem } from '../../src/certs/build.js';
import { buildLeaf } from '../../src/certs/leaf.js';
import { parseHosts } from '../../src/certs/hosts.js';
import { generateLeafKey } from '../../src/certs/keys.js';
import { loadIssuer } from '../../src/certs/issuer.js';
import { gateway } from '../helpers/exec.js';
import { tempDir } from '../helpers/tmp.js';

async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of (await readdir(dir)).sort()) out[f] = `${(await stat(join(dir, f))).mtimeMs}:${await readFile(join(dir, f), 'utf8')}`;
  return out;
}

const mode = async (p: string) => (await stat(p)).mode & 0o777;
const H = ['--host', 'registry.test', '--host', '127.0.0.1'];

test('init writes the set with 0600 keys and 0644 certificates and reports the constraints', async () => {
  const dir = join(await tempDir(), 'certs');
  const r = await gateway(['certs', 'init', '--dir', dir, ...H]);
  assert.equal(r.code, 0, r.stderr);
  // Private names and addresses (registry.test is under .test, 127.0.0.1 in 127/8), nothing public.
  assert.match(r.stdout, /name constraints: private; this CA can sign only for private names and addresses and the names given: DNS:internal, .*DNS:test, .*IP:127\.0\.0\.0\/8, IP:10\.0\.0\.0\/8, .*IP:fc00::\/7.*certs add-host/);
  assert.deepEqual((await readdir(dir)).sort(), ['ca.crt', 'ca.key', 'server.crt', 'server.key']);
  assert.equal(await mode(join(dir, 'ca.key')), 0o600);
  assert.equal(await mode(join(dir, 'server.key')), 0o600);
  assert.equal(await mode(join(dir, 'ca.crt')), 0o644);
  assert.equal(await mode(join(dir, 'server.crt')), 0o644);
});

test('re-running init without --force changes nothing and says so', async () => {
  const dir = await tempDir();
  assert.equal((await gateway(['certs', 'init', '--dir', dir, ...H])).code, 0);
  const before = await snapshot(dir);
  const again = await gateway(['certs', 'init', '--dir', dir, ...H]);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /nothing changed/);
  const plain = await gateway(['certs', 'init', '--dir', dir]);
  assert.equal(plain.code, 0, 'no --host means "keep what is there"');
  const other = await gateway(['certs', 'init', '--dir', dir, '--host', 'other.test']);
  assert.equal(other.code, 2);
  assert.match(other.stderr, /server\.crt is for registry\.test, 127\.0\.0\.1, not other\.test; add names with 'gateway certs add-host --dir .* --host NAME', or re-issue it for exactly these with --force/);
  assert.deepEqual(await snapshot(dir), before);
});

const badInputs: [string[], RegExp][] = [
  [['--host', 'foo_bar!'], /invalid --host 'foo_bar!'.*found '_'/],
  [['--host', 'a..b'], /invalid --host 'a\.\.b': empty label/],
  [['--host', '*'], /invalid --host '\*': a bare '\*'/],
  [['--host', '127.0.0.1:5443'], /takes no port: write '127\.0\.0\.1'/],
  [['--days', '0'], /--days must be a whole number from 1 to 825/],
  [['--days', '1000'], /argument '1000' is invalid.*Apple/],
  [['--days', 'ten'], /argument 'ten' is invalid/],
  [['--ca-days', '-1'], /--ca-days must be a whole number/],
  [['--days', '400', '--ca-days', '300'], /--days 400 outlives the CA/],
  [['--colour'], /unknown option '--colour'/],
];

for (const [args, message] of badInputs) {
  test(`init ${args.join(' ')}: exit 2, one line, nothing written`, async () => {
    const parent = await tempDir();
    const fresh = join(parent, 'new');
    const r = await gateway(['certs', 'init', '--dir', fresh, ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.deepEqual(await readdir(parent), [], 'the directory was not even created');
    // And an existing set is left exactly as it was.
    const dir = await tempDir();
    assert.equal((await gateway(['certs', 'init', '--dir', dir, ...H])).code, 0);
    const before = await snapshot(dir);
    assert.equal((await gateway(['certs', 'init', '--dir', dir, '--force', ...args])).code, 2);
    assert.deepEqual(await snapshot(dir), before);
  });
}

test('--force re-issues the server certificate with the same CA; --new-ca replaces the CA and says so', async () => {
  const dir = await tempDir();
  assert.equal((await gateway(['certs', 'init', '--dir', dir, ...H])).code, 0);
  const ca1 = await readFile(join(dir, 'ca.crt'), 'utf8');
  const server1 = await readFile(join(dir, 'server.crt'), 'utf8');
  const forced = await gateway(['certs', 'init', '--dir', dir, '--force', ...H, '--host', 'extra.registry.test']);
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(forced.stdout, /kept the existing CA/);
  assert.equal(await readFile(join(dir, 'ca.crt'), 'utf8'), ca1);
  const server2 = new X509Certificate(await readFile(join(dir, 'server.crt'), 'utf8'));
  assert.notEqual(server2.toString(), server1);
  assert.match(server2.subjectAltName ?? '', /extra\.registry\.test/);
  assert.ok(server2.verify(new X509Certificate(ca1).publicKey));

  const outside = await gateway(['certs', 'init', '--dir', dir, '--force', '--host', 'elsewhere.example.com']);
  assert.equal(outside.code, 2);
  assert.match(outside.stderr, /elsewhere\.example\.com is outside the CA's name constraints.*gateway certs rollover start --dir .* --permit elsewhere\.example\.com/);

  const refused = await gateway(['certs', 'init', '--dir', dir, '--new-ca']);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /needs --force --new-ca/);

  const replaced = await gateway(['certs', 'init', '--dir', dir, '--force', '--new-ca', '--host', 'elsewhere.example.com']);
  assert.equal(replaced.code, 0, replaced.stderr);
  assert.match(replaced.stdout, /NEW CA.*every node must be re-bundled/);
  assert.notEqual(await readFile(join(dir, 'ca.crt'), 'utf8'), ca1);
});

test('--no-name-constraints is reported and leaves the CA unconstrained', async () => {
  const dir = await tempDir();
  const r = await gateway(['certs', 'init', '--dir', dir, '--no-name-constraints', ...H]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /name constraints: OFF/);
  const issued = await gateway(['certs', 'issue', '--dir', dir, '--name', 'any', '--host', 'anything.example']);
  assert.equal(issued.code, 0, issued.stderr);
});

test('issue: refuses names outside the constraints, writes client certificates', async () => {
  const dir = await tempDir();
  assert.equal((await gateway(['certs', 'init', '--dir', dir, ...H])).code, 0);
  const before = await snapshot(dir);
  const outside = await gateway(['certs', 'issue', '--dir', dir, '--name', 'evil', '--host', 'evil.example.com']);
  assert.equal(outside.code, 2);
  assert.match(outside.stderr, /evil\.example\.com is outside the CA's name constraints \(DNS:internal, .*\).*gateway certs rollover start/);
  assert.deepEqual(await snapshot(dir), before);
  for (const [args, message] of [[['--name', 'Bad Name'], /invalid --name 'Bad Name'/], [['--name', 'server'], /reserved/], [['--name', 'x', '--host', 'a..b'], /empty label/]] as const) {
    const r = await gateway(['certs', 'issue', '--dir', dir, ...args]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, message);
  }
  const mirror = await gateway(['certs', 'issue', '--dir', dir, '--name', 'mirror', '--host', 'mirror.registry.test']);
  assert.equal(mirror.code, 0, mirror.stderr);
  const client = await gateway(['certs', 'issue', '--dir', dir, '--name', 'node1', '--client', '--days', '30']);
  assert.equal(client.code, 0, client.stderr);
  const cert = new X509Certificate(await readFile(join(dir, 'node1.crt'), 'utf8'));
  assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2']);
  assert.equal(await mode(join(dir, 'node1.key')), 0o600);
  const again = await gateway(['certs', 'issue', '--dir', dir, '--name', 'node1', '--client']);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /already exists; pass --force/);
});

test('renew keeps names and CA, changes the key', async () => {
  const dir = await tempDir();
  assert.equal((await gateway(['certs', 'init', '--dir', dir, ...H, '--days', '10'])).code, 0);
  const old = new X509Certificate(await readFile(join(dir, 'server.crt'), 'utf8'));
  const oldKey = await readFile(join(dir, 'server.key'), 'utf8');
  const r = await gateway(['certs', 'renew', '--dir', dir]);
  assert.equal(r.code, 0, r.stderr);
  const renewed = new X509Certificate(await readFile(join(dir, 'server.crt'), 'utf8'));
  assert.equal(renewed.subjectAltName, old.subjectAltName);
  assert.equal(renewed.issuer, old.issuer);
  assert.notEqual(await readFile(join(dir, 'server.key'), 'utf8'), oldKey);
  assert.ok(new Date(renewed.validTo).getTime() - Date.now() > 360 * 86400_000);
  const missing = await gateway(['certs', 'renew', '--dir', dir, '--name', 'nope']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /not found at .*nope\.crt/);
});

test('show reports expiry for --days 1 and warns under 30 days', async () => {
  const dir = await tempDir();
  assert.equal((await gateway(['certs', 'init', '--dir', dir, ...H, '--days', '1'])).code, 0);
  const r = await gateway(['certs', 'show', '--dir', dir, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { ok: boolean; certificates: { file: string; daysLeft: number; notAfter: string; sans: string[]; sha256: string; keyType: string; nameConstraints?: unknown }[] };
  const server = report.certificates.find((c) => c.file === 'server.crt')!;
  assert.equal(server.daysLeft, 0);
  assert.ok(Math.abs(new Date(server.notAfter).getTime() - (Date.now() + 86400_000)) < 120_000);
  assert.deepEqual(server.sans, ['DNS:registry.test', 'IP:127.0.0.1']);
  assert.match(server.sha256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  assert.equal(server.keyType, 'RSA 2048');
  assert.ok(report.certificates.find((c) => c.file === 'ca.crt')!.nameConstraints);
  assert.match(r.stderr, /server\.crt expires in 0 day\(s\): run 'gateway certs renew'/);
  const text = await gateway(['certs', 'show', '--dir', dir]);
  assert.match(text.stdout, /names \(SAN\): +DNS:registry\.test, IP:127\.0\.0\.1/);
  assert.match(text.stdout, /constraints: +permitted DNS:internal, .*IP:198\.18\.0\.0\/15, .*; excluded \(none\)/);
});

test('show exits 1 for an expired certificate and for one from another CA', async () => {
  const dir = await tempDir();
  const other = await tempDir();
  assert.equal((await gateway(['certs', 'init', '--dir', dir, ...H])).code, 0);
  assert.equal((await gateway(['certs', 'init', '--dir', other, ...H])).code, 0);
  assert.equal((await gateway(['certs', 'show', '--dir', dir])).code, 0);

  await copyFile(join(other, 'server.crt'), join(dir, 'foreign.crt'));
  const foreign = await gateway(['certs', 'show', '--dir', dir]);
  assert.equal(foreign.code, 1);
  assert.match(foreign.stdout, /foreign\.crt does not chain to ca\.crt/);

  await copyFile(join(other, 'server.crt'), join(dir, 'server.crt'));
  const mismatched = await gateway(['certs', 'show', '--dir', dir, '--json']);
  assert.equal(mismatched.code, 1);
  assert.match(mismatched.stdout, /server\.key does not belong to server\.crt/);

  const expiredDir = await tempDir();
  assert.equal((await gateway(['certs', 'init', '--dir', expiredDir, ...H])).code, 0);
  const issuer = await loadIssuer(expiredDir);
  const longAgo = new Date(Date.now() - 10 * 86400_000);
  const key = await generateLeafKey('rsa');
  await writeFile(join(expiredDir, 'old.crt'), await buildLeaf(key.publicKey, { certPem: certToPem(issuer.cert), keyPem: issuer.key.pem }, { usage: 'server', hosts: parseHosts(['registry.test']), days: 2, now: longAgo, subject: [['O', 'registry-gateway server']] }));
  const expired = await gateway(['certs', 'show', '--dir', expiredDir]);
  assert.equal(expired.code, 1);
  assert.match(expired.stdout, /old\.crt expired on/);
  assert.match(expired.stderr, /1 problem\(s\) found/);

  const none = await gateway(['certs', 'show', '--dir', join(expiredDir, 'nowhere')]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no CA in .*gateway certs init --dir/);
});

test('--help on every level, with an example', async () => {
  for (const args of [[], ['certs'], ['certs', 'init'], ['certs', 'issue'], ['certs', 'show'], ['certs', 'renew']]) {
    const r = await gateway([...args, '--help']);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, /Usage: gateway/);
    assert.match(r.stdout, /Examples?:\n  \$ gateway /);
  }
  const bare = await gateway(['certs', 'bogus']);
  assert.equal(bare.code, 2);
});
