// Go's TLS stack (skopeo, containers/image) against a real distribution
// registry serving the generated certificates.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { exec, gateway } from '../helpers/exec.js';
import { buildImage, skopeoPolicy } from '../helpers/oci.js';
import { opensslSign } from '../helpers/openssl.js';
import { startRegistry, type Registry } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';

const work = await tempDir();
const certs = join(work, 'certs');
const init = await gateway(['certs', 'init', '--dir', certs, '--host', 'localhost', '--host', '127.0.0.1']);
assert.equal(init.code, 0, init.stderr);
const trusted = join(work, 'trusted'); // holds ca.crt only, as a node would
const untrusted = join(work, 'untrusted'); // holds nothing
await mkdir(trusted);
await mkdir(untrusted);
await copyFile(join(certs, 'ca.crt'), join(trusted, 'ca.crt'));
const policy = await skopeoPolicy(work);
const storage = join(work, 'storage');
const registries: Registry[] = [];
after(() => Promise.all(registries.map((r) => r.stop())));

async function serve(tls: { cert: string; key: string }): Promise<Registry> {
  const registry = await startRegistry(work, { storage, tls });
  registries.push(registry);
  return registry;
}

const skopeo = (args: string[]) => exec('skopeo', ['--policy', policy, ...args], { env: { ...process.env, HOME: work, XDG_RUNTIME_DIR: work } });
const inspect = (registry: Registry, certDir: string) => skopeo(['inspect', '--cert-dir', certDir, `docker://127.0.0.1:${registry.port}/test/app:1`]);

const registry = await serve({ cert: join(certs, 'server.crt'), key: join(certs, 'server.key') });

test('skopeo pushes and inspects over TLS trusting only ca.crt', async () => {
  const layout = await buildImage(work, '1', [64 * 1024]);
  const copy = await skopeo(['copy', '--dest-cert-dir', trusted, `oci:${layout}:1`, `docker://127.0.0.1:${registry.port}/test/app:1`]);
  assert.equal(copy.code, 0, copy.stderr);
  const r = await inspect(registry, trusted);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).Name, `127.0.0.1:${registry.port}/test/app`);
});

test('without ca.crt skopeo fails on the certificate', async () => {
  const r = await inspect(registry, untrusted);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /x509: certificate signed by unknown authority/);
});

test('a certificate outside the name constraints, signed with the CA key, is rejected by Go', async () => {
  // evil.example.com is outside; 127.0.0.1 is inside, so the handshake hostname alone would pass.
  const evil = await serve(await opensslSign(certs, work, 'evil', 'DNS:evil.example.com,IP:127.0.0.1'));
  const r = await inspect(evil, trusted);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /not (permitted|authorized to sign)/);
  // Control: the same procedure for an in-constraint name is accepted.
  const fair = await serve(await opensslSign(certs, work, 'fair', 'IP:127.0.0.1'));
  const ok = await inspect(fair, trusted);
  assert.equal(ok.code, 0, ok.stderr);
});

test('an ECDSA P-256 server certificate (certs issue --key ecdsa) is accepted by Go trusting only ca.crt', async () => {
  const r = await gateway(['certs', 'issue', '--dir', certs, '--name', 'ec', '--host', '127.0.0.1', '--key', 'ecdsa']);
  assert.equal(r.code, 0, r.stderr);
  const ec = await serve({ cert: join(certs, 'ec.crt'), key: join(certs, 'ec.key') });
  const ok = await inspect(ec, trusted);
  assert.equal(ok.code, 0, ok.stderr);
  assert.notEqual((await inspect(ec, untrusted)).code, 0);
});
