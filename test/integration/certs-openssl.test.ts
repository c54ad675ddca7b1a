// OpenSSL's view of what `gateway certs` makes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { exec, gateway } from '../helpers/exec.js';
import { opensslSign } from '../helpers/openssl.js';
import { tempDir } from '../helpers/tmp.js';

const dir = await tempDir();
const init = await gateway(['certs', 'init', '--dir', dir, '--host', 'registry.test', '--host', '*.apps.test', '--host', '127.0.0.1', '--host', '::1']);
assert.equal(init.code, 0, init.stderr);
const text = async (file: string) => (await exec('openssl', ['x509', '-in', join(dir, file), '-noout', '-text'])).stdout;
const verify = (cert: string, ...extra: string[]) => exec('openssl', ['verify', ...extra, '-CAfile', join(dir, 'ca.crt'), cert]);

test('openssl verify accepts the server certificate', async () => {
  const r = await verify(join(dir, 'server.crt'), '-purpose', 'sslserver', '-x509_strict');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /server\.crt: OK/);
});

test('openssl x509 -text shows the CA extensions and constraints', async () => {
  const ca = await text('ca.crt');
  assert.match(ca, /Public-Key: \(3072 bit\)/);
  assert.match(ca, /Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
  assert.match(ca, /Key Usage: critical\s+Certificate Sign, CRL Sign/);
  assert.match(ca, /Subject Key Identifier/);
  // registry.test and apps.test are under .test, 127.0.0.1 and ::1 in the loopback ranges: covered, not repeated.
  assert.match(ca, /Name Constraints: critical\s+Permitted:\s+DNS:internal\s+DNS:lan\s+DNS:local\s+DNS:localdomain\s+DNS:home\.arpa\s+DNS:test\s+DNS:example\s+DNS:invalid\s+DNS:localhost\s+IP:127\.0\.0\.0\/255\.0\.0\.0\s+IP:10\.0\.0\.0\/255\.0\.0\.0\s+IP:172\.16\.0\.0\/255\.240\.0\.0\s+IP:192\.168\.0\.0\/255\.255\.0\.0\s+IP:169\.254\.0\.0\/255\.255\.0\.0\s+IP:100\.64\.0\.0\/255\.192\.0\.0\s+IP:198\.18\.0\.0\/255\.254\.0\.0\s+IP:0:0:0:0:0:0:0:1\/FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF\s+IP:FC00:0:0:0:0:0:0:0\/FE00:0:0:0:0:0:0:0\s+IP:FE80:0:0:0:0:0:0:0\/FFC0:0:0:0:0:0:0:0\s/);
  assert.doesNotMatch(ca, /Excluded:/);
  assert.match(ca, /Subject: O ?= ?registry-gateway, OU ?= ?\S+@\S+, CN ?= ?registry-gateway CA /);
});

test('openssl x509 -text shows the server SANs, usages and the CA key id', async () => {
  const server = await text('server.crt');
  const ca = await text('ca.crt');
  assert.match(server, /Public-Key: \(2048 bit\)/);
  assert.match(server, /Subject Alternative Name:\s+DNS:registry\.test, DNS:\*\.apps\.test, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/);
  assert.match(server, /Extended Key Usage:\s+TLS Web Server Authentication\n/);
  assert.match(server, /Key Usage: critical\s+Digital Signature, Key Encipherment/);
  const ski = /Subject Key Identifier:\s+([0-9A-F:]+)/.exec(ca)![1];
  const aki = /Authority Key Identifier:\s+(?:keyid:)?([0-9A-F:]+)/.exec(server)![1];
  assert.equal(aki, ski);
});

test('a certificate outside the constraints, signed with the CA key, is rejected', async () => {
  const work = await tempDir();
  const evil = await opensslSign(dir, work, 'evil', 'DNS:evil.example.com');
  const r = await verify(evil.cert);
  assert.notEqual(r.code, 0);
  assert.match(r.stdout + r.stderr, /permitted subtree violation/);
  const evilIp = await opensslSign(dir, work, 'evil-ip', 'IP:8.8.8.8');
  assert.match((await verify(evilIp.cert)).stdout + (await verify(evilIp.cert)).stderr, /permitted subtree violation/);
  // The same procedure inside the constraints passes: the rejection is the constraint's doing.
  // Names and addresses a private registry gains later are inside too: the CA can stay.
  for (const san of ['DNS:mirror.registry.test', 'DNS:x.apps.test', 'IP:127.0.0.1', 'DNS:registry.lan', 'DNS:reg.svc.cluster.local',
    'DNS:nas.home.arpa', 'IP:10.9.8.7', 'IP:192.168.1.20', 'IP:198.18.99.214', 'IP:fd00::5', 'IP:fe80::1']) {
    const ok = await opensslSign(dir, work, `ok-${san.replace(/\W/g, '')}`, san);
    assert.equal((await verify(ok.cert)).code, 0, san);
  }
});

test('an --exact-names DNS-only CA cannot sign for any IP address; an unconstrained CA can sign anything', async () => {
  const work = await tempDir();
  const dnsOnly = join(work, 'dns-only');
  assert.equal((await gateway(['certs', 'init', '--dir', dnsOnly, '--host', 'registry.test', '--exact-names'])).code, 0);
  const ip = await opensslSign(dnsOnly, work, 'ip', 'IP:127.0.0.1');
  const r = await exec('openssl', ['verify', '-CAfile', join(dnsOnly, 'ca.crt'), ip.cert]);
  assert.match(r.stdout + r.stderr, /excluded subtree violation/);

  const open = join(work, 'open');
  assert.equal((await gateway(['certs', 'init', '--dir', open, '--host', 'registry.test', '--no-name-constraints'])).code, 0);
  const any = await opensslSign(open, work, 'any', 'DNS:evil.example.com');
  assert.equal((await exec('openssl', ['verify', '-CAfile', join(open, 'ca.crt'), any.cert])).code, 0);
});

test('client certificates verify for TLS clients only', async () => {
  assert.equal((await gateway(['certs', 'issue', '--dir', dir, '--name', 'node1', '--client'])).code, 0);
  assert.equal((await verify(join(dir, 'node1.crt'), '-purpose', 'sslclient')).code, 0);
  assert.notEqual((await verify(join(dir, 'node1.crt'), '-purpose', 'sslserver')).code, 0);
  assert.equal((await exec('openssl', ['x509', '-in', join(dir, 'node1.crt'), '-noout', '-checkend', '0'])).code, 0);
});

test('openssl reads the keys (PKCS#8) and they match their certificates', async () => {
  for (const name of ['ca', 'server']) {
    const fromKey = await exec('openssl', ['pkey', '-in', join(dir, `${name}.key`), '-pubout']);
    const fromCert = await exec('openssl', ['x509', '-in', join(dir, `${name}.crt`), '-noout', '-pubkey']);
    assert.equal(fromKey.code, 0, fromKey.stderr);
    assert.equal(fromKey.stdout, fromCert.stdout);
  }
});

test('--key ecdsa: a P-256 server key signed by the RSA CA, digitalSignature only; renew keeps the key type', async () => {
  const ecDir = await tempDir();
  const r = await gateway(['certs', 'init', '--dir', ecDir, '--host', 'registry.test', '--key', 'ecdsa']);
  assert.equal(r.code, 0, r.stderr);
  const check = async () => {
    const ok = await exec('openssl', ['verify', '-purpose', 'sslserver', '-x509_strict', '-CAfile', join(ecDir, 'ca.crt'), join(ecDir, 'server.crt')]);
    assert.equal(ok.code, 0, ok.stderr);
    const server = (await exec('openssl', ['x509', '-in', join(ecDir, 'server.crt'), '-noout', '-text'])).stdout;
    assert.match(server, /Public Key Algorithm: id-ecPublicKey/);
    assert.match(server, /ASN1 OID: prime256v1/);
    assert.match(server, /Signature Algorithm: sha256WithRSAEncryption/);
    assert.match(server, /Key Usage: critical\s+Digital Signature\n/);
    assert.match(server, /Subject Alternative Name:\s+DNS:registry\.test\n/);
    assert.match((await exec('openssl', ['x509', '-in', join(ecDir, 'ca.crt'), '-noout', '-text'])).stdout, /Public-Key: \(3072 bit\)/, 'the CA stays RSA');
  };
  await check();
  assert.equal((await gateway(['certs', 'renew', '--dir', ecDir])).code, 0);
  await check();
  const bad = await gateway(['certs', 'init', '--dir', await tempDir(), '--key', 'dsa']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /'dsa' is invalid\. Allowed choices are rsa, ecdsa/);
});
