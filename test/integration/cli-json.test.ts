// `-o json` (`--output json`): one JSON document on stdout, the shape the
// README documents (Command line); warnings stay on stderr, human output
// stays the default, exit codes are unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gateway } from '../helpers/exec.js';
import { tempDir } from '../helpers/tmp.js';

const work = await tempDir('gw-json-');
const certs = join(work, 'certs');
const htpasswd = join(work, 'htpasswd');
const ok = async (args: string[], input?: string) => {
  const r = await gateway(args, { cwd: work, ...(input !== undefined ? { input } : {}) });
  assert.equal(r.code, 0, `gateway ${args.join(' ')}: ${r.stderr}`);
  return r;
};
const json = async (args: string[], input?: string) => JSON.parse((await ok(args, input)).stdout) as Record<string, unknown>;

await ok(['certs', 'init', '--dir', certs, '--host', 'registry.test']);
await ok(['users', 'add', 'alice', '--password-stdin', '--file', htpasswd, '--cost', '4'], 'alice-password');
await ok(['users', 'add', 'ci', '--password-stdin', '--file', htpasswd, '--cost', '4'], 'ci-password-1');

test('certs show -o json: dir, ok and one report per certificate; --json still works; text stays the default', async () => {
  const doc = await json(['certs', 'show', '--dir', certs, '-o', 'json']);
  assert.equal(doc.dir, certs);
  assert.equal(doc.ok, true);
  const reports = doc.certificates as Record<string, unknown>[];
  assert.deepEqual(reports.map((r) => r.file).sort(), ['ca.crt', 'server.crt']); // names in dir
  const server = reports.find((r) => r.file === 'server.crt')!;
  assert.deepEqual(Object.keys(server).sort(), ['daysLeft', 'extKeyUsage', 'file', 'isCa', 'issuer', 'keyType', 'notAfter', 'notBefore',
    'problems', 'sans', 'serial', 'sha256', 'subject', 'warnings']);
  assert.ok((server.sans as string[]).includes('DNS:registry.test'));
  assert.equal(typeof server.daysLeft, 'number');
  assert.deepEqual(await json(['certs', 'show', '--dir', certs, '--json']), doc);
  assert.match((await ok(['certs', 'show', '--dir', certs])).stdout, /^server\.crt\n {2}subject: /m);
  // A check that fails: still one document on stdout, exit 1, the reason on stderr.
  const other = join(work, 'other');
  await ok(['certs', 'init', '--dir', other]);
  await copyFile(join(other, 'server.crt'), join(other, 'foreign.crt'));
  await copyFile(join(certs, 'ca.crt'), join(other, 'ca.crt'));
  const bad = await gateway(['certs', 'show', '--dir', other, '-o', 'json']);
  assert.equal(bad.code, 1, bad.stderr);
  const report = JSON.parse(bad.stdout) as { ok: boolean; certificates: { file: string; problems: string[] }[] };
  assert.equal(report.ok, false);
  assert.match(report.certificates.find((c) => c.file === 'foreign.crt')!.problems.join('\n'), /does not chain to ca\.crt/);
  assert.match(bad.stderr, /problem\(s\) found in/);
});

test('users list -o json: the file and the names', async () => {
  assert.deepEqual(await json(['users', 'list', '--file', htpasswd, '--output', 'json']), { file: htpasswd, users: ['alice', 'ci'] });
  assert.equal((await ok(['users', 'list', '--file', htpasswd])).stdout, 'alice\nci\n');
  const bad = await gateway(['users', 'list', '--file', htpasswd, '-o', 'yaml']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /'yaml' is invalid\. Allowed choices are text, json/);
});

test('token issue and rotate -o json: the token with what was granted and refused; the key files', async () => {
  const config = join(work, 'token.json');
  await writeFile(config, JSON.stringify({
    tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') },
    auth: { mode: 'token', htpasswd, token: { service: 'registry.test:5443', signingKey: join(certs, 'token.key') } },
    access: [{ account: 'ci', name: 'app/**', actions: ['pull', 'push'] }],
  }));
  const r = await gateway(['token', 'issue', '--config', config, '--user', 'ci', '--scope', 'repository:app/web:pull,push',
    '--scope', 'repository:other/x:pull', '--ttl', '15m', '-o', 'json'], { cwd: work });
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.deepEqual(Object.keys(doc).sort(), ['access', 'expiresIn', 'issuedAt', 'refused', 'token', 'user']);
  assert.match(doc.token as string, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  assert.equal(doc.user, 'ci');
  assert.equal(doc.expiresIn, 900);
  assert.deepEqual(doc.access, [{ type: 'repository', name: 'app/web', actions: ['pull', 'push'] }]);
  assert.deepEqual(doc.refused, [{ type: 'repository', name: 'other/x', actions: ['pull'] }]);
  assert.match(r.stderr, /repository:other\/x: the access rules grant 'ci' nothing here/);
  const rotated = await json(['token', 'rotate', '--config', config, '-o', 'json']);
  assert.equal(rotated.signingKey, join(certs, 'token.key'));
  assert.equal(rotated.certificate, join(certs, 'token.crt'));
  assert.match(rotated.retiredCertificate as string, /token-\d{8}T\d{6}\.crt$/);
  await stat(rotated.retiredCertificate as string);
});

test('bundle -o json: every file written, which are secret, the tarball and install.sh', async () => {
  const out = join(work, 'trust');
  const doc = await json(['bundle', '--certs', certs, '--out', out, '--host', 'registry.test:5443', '--pull-secret', 'ci', '--tar',
    '-o', 'json'], 'ci-password-1');
  assert.deepEqual(Object.keys(doc).sort(), ['files', 'hosts', 'install', 'out', 'tarball']);
  assert.deepEqual(doc.hosts, ['registry.test:5443']);
  assert.equal(doc.install, join(out, 'install.sh'));
  assert.equal(doc.tarball, join(work, 'trust.tar.gz'));
  const files = doc.files as { path: string; secret: boolean }[];
  assert.ok(files.some((f) => f.path === join(out, 'install.sh') && !f.secret));
  assert.ok(files.some((f) => f.path === join(out, 'k3s/registries.yaml') && f.secret));
  for (const f of files) assert.ok((await stat(f.path)).isFile(), f.path);
  await stat(doc.tarball as string);
});

test('deploy kubernetes -o json: the files written with their modes, notes inside the document', async () => {
  const out = join(work, 'deploy-out');
  const doc = await json(['deploy', 'kubernetes', '--out', out, '--certs', certs, '--htpasswd', htpasswd, '--single', '-o', 'json']);
  assert.deepEqual(Object.keys(doc).sort(), ['files', 'namespace', 'nodes', 'notes', 'out', 'overlay', 'single', 'upstream']);
  // No --expose: no address nodes can reach (the warning went to stderr), so none is given.
  assert.deepEqual(doc.nodes, { address: null, route: null, setup: null });
  assert.equal(doc.out, 'deploy-out');
  assert.equal(doc.overlay, 'with-registry');
  assert.equal(doc.single, true);
  assert.equal(doc.namespace, 'registry-gateway');
  assert.ok(Array.isArray(doc.notes));
  const files = doc.files as { path: string; mode: string; secret: boolean }[];
  assert.ok(files.some((f) => f.path === 'deploy-out/kustomization.yaml' && f.mode === '0644' && !f.secret));
  assert.ok(files.some((f) => f.path.endsWith('/htpasswd') && f.mode === '0600' && f.secret));
  for (const f of files) assert.equal(((await stat(join(work, f.path))).mode & 0o777).toString(8).padStart(4, '0'), f.mode, f.path);
});
