// The web UI's setup page data (src/ui/setup.ts) and pull secret
// (src/ui/pullSecret.ts): the certificate's status from a real certificate,
// the per-runtime steps pointing at the files the served bundle holds, the
// pinned commands with the browser's address first, and the Secret in the
// bundle's own format.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { initCerts } from '../../src/certs/init.js';
import { renderBundle } from '../../src/bundle/render.js';
import { createTrust, SERVED_BUNDLE_DIR } from '../../src/trust/endpoint.js';
import { parseAddress } from '../../src/bundle/address.js';
import { certificateStatus, setupData, setupSteps, WARN_DAYS } from '../../src/ui/setup.js';
import { pullSecretYaml, secretParams } from '../../src/ui/pullSecret.js';
import { UiError } from '../../src/ui/reply.js';
import { tempDir } from '../helpers/tmp.js';

const dir = await tempDir('gw-ui-setup-');
const now = new Date();
await initCerts({ dir, hosts: ['registry.test', '10.0.0.5', 'localhost'], caDays: 400, days: 20, nameConstraints: true, force: false, newCa: false },
  { now, creator: 't@h', warn: () => {} });
const cert = new X509Certificate(await readFile(join(dir, 'server.crt')));
const caPem = await readFile(join(dir, 'ca.crt'), 'utf8');
const addresses = ['registry.test:5443', '10.0.0.5:5443', 'localhost:5443'].map(parseAddress);
const trust = await createTrust(caPem, addresses);

test('certificate status: its names, notAfter, whole days left, a warning under 30 days', () => {
  const s = certificateStatus(cert, now);
  assert.deepEqual(s.names, ['registry.test', '10.0.0.5', 'localhost']);
  assert.equal(s.notAfter, new Date(cert.validTo).toISOString());
  assert.ok(s.daysLeft === 19 || s.daysLeft === 20, String(s.daysLeft));
  assert.equal(s.warning, true, '20 days < 30');
  const later = certificateStatus(cert, new Date(Date.parse(cert.validTo) - (WARN_DAYS + 1) * 86_400_000));
  assert.equal(later.daysLeft, WARN_DAYS + 1);
  assert.equal(later.warning, false);
  assert.equal(certificateStatus(cert, new Date(Date.parse(cert.validTo) + 86_400_000)).warning, true, 'expired');
});

test('setup data: the trust\'s fingerprint and commands, the one for this address first, the bundle URL', () => {
  const d = setupData({ registry: '10.0.0.5:5443', trust, certificate: cert, logins: true, now });
  assert.equal(d.registry, '10.0.0.5:5443');
  assert.equal(d.caSha256, trust.caSha256);
  assert.match(d.caSha256!, /^[0-9a-f]{64}$/);
  assert.equal(d.commands.length, 3);
  assert.deepEqual([...d.commands].sort(), [...trust.commands].sort(), 'the pinned commands /trust/ gives, unchanged');
  assert.ok(d.commands[0]!.includes('https://10.0.0.5:5443/trust/ca.crt'), 'this browser\'s address first');
  assert.ok(d.commands[0]!.includes(trust.caSha256));
  assert.equal(d.bundleUrl, '/trust/bundle.tar.gz');
  assert.equal(d.certificate.warning, true);
  const off = setupData({ registry: 'registry.test:5443', trust: undefined, certificate: cert, logins: false, now });
  assert.equal(off.caSha256, null);
  assert.deepEqual(off.commands, []);
  assert.equal(off.bundleUrl, null);
  assert.match(off.steps.kind.join('\n'), /\/trust\/ is off/);
});

test('steps: short lines per runtime, naming the files the served bundle holds', () => {
  const steps = setupSteps('registry.test:5443', trust.caSha256, true);
  assert.deepEqual(Object.keys(steps).sort(), ['containerd', 'docker', 'k3d', 'k3s', 'kind', 'kubernetes']);
  for (const [runtime, lines] of Object.entries(steps)) {
    assert.ok(lines.length >= 2 && lines.length <= 5, runtime);
    for (const l of lines) assert.ok(l.length <= 220, `${runtime}: ${l}`);
  }
  assert.ok(steps.docker.some((l) => l.includes('/etc/docker/certs.d/registry.test:5443/ca.crt')));
  assert.ok(steps.docker.includes('docker login registry.test:5443'));
  assert.ok(steps.containerd.some((l) => l.includes('/etc/containerd/certs.d/registry.test:5443/')));
  assert.ok(steps.containerd.includes('ctr images pull --hosts-dir /etc/containerd/certs.d --user USER registry.test:5443/NAME:TAG'));
  assert.ok(steps.k3s.some((l) => l.includes('/etc/rancher/k3s/registries.yaml')));
  // The bundle is fetched over TLS verified by the CA whose fingerprint is checked first.
  assert.equal(steps.kind[0], `curl -fsSk https://registry.test:5443/trust/ca.crt -o ca.crt && echo "${trust.caSha256}  ca.crt" | sha256sum -c`);
  assert.equal(steps.kind[1], 'curl -fsS --cacert ca.crt https://registry.test:5443/trust/bundle.tar.gz | sudo tar -xz -C /opt');
  // Every bundle path the steps name is a file /trust/bundle.tar.gz holds (unpacked in /opt).
  const files = new Set(renderBundle({ addresses, caPem, outDir: SERVED_BUNDLE_DIR }).map((f) => `${SERVED_BUNDLE_DIR}/${f.path}`));
  const named = Object.values(steps).flat().flatMap((l) => l.match(new RegExp(`${SERVED_BUNDLE_DIR}/[^ )]+`, 'g')) ?? []);
  assert.ok(named.length >= 4);
  for (const path of named) assert.ok(files.has(path), `${path} is in the bundle`);
  const anonymous = setupSteps('registry.test:5443', trust.caSha256, false);
  assert.ok(!anonymous.docker.some((l) => l.includes('login')), 'auth.mode none: no login step');
  assert.ok(!anonymous.containerd.some((l) => l.includes('--user')));
});

test('pull secret: the bundle\'s Secret, in the namespace and under the name asked, for every address clients use', () => {
  const text = pullSecretYaml(['registry.test:5443'], 'alice', 'TOKEN.abc', 'apps');
  const doc = parse(text);
  assert.equal(doc.kind, 'Secret');
  assert.equal(doc.type, 'kubernetes.io/dockerconfigjson');
  assert.deepEqual(doc.metadata, { name: 'registry-gateway-pull', namespace: 'apps' });
  const config = JSON.parse(Buffer.from(doc.data['.dockerconfigjson'], 'base64').toString());
  assert.deepEqual(config, { auths: { 'registry.test:5443': { username: 'alice', password: 'TOKEN.abc', auth: Buffer.from('alice:TOKEN.abc').toString('base64') } } });
  const on443 = parse(pullSecretYaml(['registry.test'], 'alice', 'x', 'default'));
  assert.deepEqual(Object.keys(JSON.parse(Buffer.from(on443.data['.dockerconfigjson'], 'base64').toString()).auths), ['registry.test']);
  assert.deepEqual(secretParams(new URLSearchParams('')), { namespace: 'default', name: 'registry-gateway-pull' });
  assert.deepEqual(secretParams(new URLSearchParams('namespace=kube-system&name=my.pull-1')), { namespace: 'kube-system', name: 'my.pull-1' });
  for (const bad of ['namespace=Apps', 'namespace=-a', 'namespace=a/b', `namespace=${'a'.repeat(64)}`, 'other=1', 'namespace=a&namespace=b',
    'name=My', 'name=a_b', 'name=.a', `name=${'a'.repeat(254)}`]) {
    assert.throws(() => secretParams(new URLSearchParams(bad)), (e: UiError) => e.status === 400, bad);
  }
  // Every address nodes may use, in one Secret (the browser's own first), with the name asked for.
  const all = parse(pullSecretYaml(['localhost:5443', 'registry.lan:5443', '[::1]:5443'], 'alice', 'T', 'apps', 'mine'));
  assert.equal(all.metadata.name, 'mine');
  assert.deepEqual(Object.keys(JSON.parse(Buffer.from(all.data['.dockerconfigjson'], 'base64').toString()).auths), ['localhost:5443', 'registry.lan:5443', '[::1]:5443']);
});
