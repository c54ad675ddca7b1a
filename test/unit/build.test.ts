import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { buildCa, certToPem } from '../../src/certs/build.js';
import { buildLeaf, type LeafSpec } from '../../src/certs/leaf.js';
import { randomSerial } from '../../src/certs/serial.js';
import { parseHosts } from '../../src/certs/hosts.js';
import { generateLeafKey, generateRsaKey } from '../../src/certs/keys.js';
import { constraintsFor } from '../../src/certs/nameConstraints.js';
import { readNameConstraints } from '../../src/certs/inspect.js';
import { extensionValue, subjectAltNames } from '../../src/certs/der.js';

const now = new Date('2026-01-01T00:00:00Z');
const caKey = await generateRsaKey(3072);
const leafKey = await generateLeafKey('rsa');
const hosts = parseHosts(['registry.test', '10.0.0.5', '::1']);
const ca = buildCa(caKey, { days: 3650, now, creator: 'ci@host', nameConstraints: constraintsFor(hosts) });
const caX = new X509Certificate(certToPem(ca));
const issuer = { certPem: certToPem(ca), keyPem: caKey.pem };
const serverSpec: LeafSpec = { usage: 'server', hosts, days: 365, now, subject: [['O', 'registry-gateway server'], ['OU', 'ci@host']] };
const leafX = new X509Certificate(await buildLeaf(leafKey.publicKey, issuer, serverSpec));

/** The keyUsage bits of a certificate, read from its DER. */
function keyUsageBits(cert: X509Certificate): { digitalSignature: boolean; keyEncipherment: boolean } {
  const bits = forge.asn1.fromDer(extensionValue(cert.raw, '2.5.29.15')!).value as string;
  const flags = bits.charCodeAt(1);
  return { digitalSignature: (flags & 0x80) !== 0, keyEncipherment: (flags & 0x20) !== 0 };
}

test('serials are positive, DER-minimal and 128 random bits', () => {
  for (let i = 0; i < 200; i++) {
    const s = randomSerial();
    assert.match(s, /^(00[89a-f][0-9a-f]{31}|(?!00)[0-7][0-9a-f]{31})$/);
  }
  assert.notEqual(randomSerial(), randomSerial());
});

test('CA: RSA 3072, pathlen 0, certSign only, SKI, constraints, subject names the maker', () => {
  assert.equal(caX.publicKey.asymmetricKeyDetails?.modulusLength, 3072);
  assert.ok(caX.ca);
  const bc = ca.getExtension('basicConstraints') as { cA: boolean; pathLenConstraint: number; critical: boolean };
  assert.deepEqual([bc.cA, bc.pathLenConstraint, bc.critical], [true, 0, true]);
  const ku = ca.getExtension('keyUsage') as Record<string, boolean>;
  assert.deepEqual([ku.keyCertSign, ku.cRLSign, Boolean(ku.digitalSignature), ku.critical], [true, true, false, true]);
  assert.ok(ca.getExtension('subjectKeyIdentifier'));
  assert.deepEqual(readNameConstraints(caX), constraintsFor(hosts));
  assert.match(caX.subject, /CN=registry-gateway CA ci@host 2026-01-01T00:00:00Z/);
  assert.ok(caX.verify(caX.publicKey));
});

test('server leaf: SANs of the right types, serverAuth, AKI is the CA SKI (not its own)', () => {
  assert.deepEqual(subjectAltNames(leafX.raw), [
    { kind: 'dns', name: 'registry.test' },
    { kind: 'ip', address: '10.0.0.5' },
    { kind: 'ip', address: '::1' },
  ]);
  assert.deepEqual(leafX.keyUsage, ['1.3.6.1.5.5.7.3.1']);
  assert.ok(!leafX.ca);
  // Read back from the DER, as a client would.
  const ski = forge.util.bytesToHex(forge.asn1.fromDer(extensionValue(caX.raw, '2.5.29.14')!).value as string);
  const aki = forge.asn1.fromDer(extensionValue(leafX.raw, '2.5.29.35')!);
  const keyId = forge.util.bytesToHex((aki.value as forge.asn1.Asn1[])[0]!.value as string);
  assert.equal(keyId, ski);
  assert.equal(ski.length, 40);
  const ownSki = forge.util.bytesToHex(forge.asn1.fromDer(extensionValue(leafX.raw, '2.5.29.14')!).value as string);
  assert.notEqual(keyId, ownSki);
  assert.ok(leafX.checkIssued(caX) && leafX.verify(caX.publicKey));
  assert.equal(leafX.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
  assert.deepEqual(keyUsageBits(leafX), { digitalSignature: true, keyEncipherment: true });
  // UTF8String (tag 12) subject values, even for '@': what Go's parser accepts.
  assert.match(leafX.subject, /OU=ci@host/);
});

test('ECDSA P-256 server leaf: signed by the RSA CA, digitalSignature only (an EC key cannot encipher)', async () => {
  const ec = await generateLeafKey('ecdsa');
  const x = new X509Certificate(await buildLeaf(ec.publicKey, issuer, serverSpec));
  assert.equal(x.publicKey.asymmetricKeyType, 'ec');
  assert.equal(x.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.ok(x.checkIssued(caX) && x.verify(caX.publicKey));
  assert.deepEqual(keyUsageBits(x), { digitalSignature: true, keyEncipherment: false });
  assert.deepEqual(x.keyUsage, ['1.3.6.1.5.5.7.3.1']);
  assert.deepEqual(subjectAltNames(x.raw).length, 3);
});

test('validity: backdated a few minutes, ends exactly --days later', () => {
  assert.equal(new Date(leafX.validTo).getTime(), now.getTime() + 365 * 86400_000);
  assert.equal(new Date(leafX.validFrom).getTime(), now.getTime() - 5 * 60_000);
});

test('client leaf: clientAuth and its name in the CN', async () => {
  const client = new X509Certificate(await buildLeaf(leafKey.publicKey, issuer, { usage: 'client', hosts: [], days: 30, now, subject: [['O', 'registry-gateway client'], ['CN', 'node1']] }));
  assert.deepEqual(client.keyUsage, ['1.3.6.1.5.5.7.3.2']);
  assert.match(client.subject, /CN=node1/);
  assert.deepEqual(subjectAltNames(client.raw), []);
});
