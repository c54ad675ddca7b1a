import { test } from 'node:test';
import assert from 'node:assert/strict';
import forge from 'node-forge';
import { parseHosts } from '../../src/certs/hosts.js';
import { constraintsFor, decodeNameConstraints, encodeNameConstraints, permits } from '../../src/certs/nameConstraints.js';

const roundTrip = (nc: ReturnType<typeof constraintsFor>) => decodeNameConstraints(forge.asn1.toDer(encodeNameConstraints(nc)).getBytes());

test('permits exactly the given names, their subdomains and wildcard parents', () => {
  const nc = constraintsFor(parseHosts(['registry.test', '*.apps.test', 'x.registry.test', '127.0.0.1', '::1']));
  assert.deepEqual(nc.permitted, [
    { kind: 'dns', domain: 'registry.test' },
    { kind: 'dns', domain: 'apps.test' },
    { kind: 'ip', address: '127.0.0.1', prefix: 32 },
    { kind: 'ip', address: '::1', prefix: 128 },
  ]);
  assert.deepEqual(nc.excluded, []);
  const ok = (h: string) => permits(nc, parseHosts([h])[0]!);
  assert.ok(ok('registry.test'));
  assert.ok(ok('mirror.registry.test'));
  assert.ok(ok('x.apps.test'));
  assert.ok(ok('::1'));
  assert.ok(!ok('evil.test'));
  assert.ok(!ok('registry.test.evil.com'));
  assert.ok(!ok('notregistry.test'));
  assert.ok(!ok('127.0.0.2'));
  assert.ok(!ok('::2'));
});

test('a name form with nothing permitted is excluded outright', () => {
  const dnsOnly = constraintsFor(parseHosts(['registry.test']));
  assert.deepEqual(dnsOnly.excluded, [{ kind: 'ip', address: '0.0.0.0', prefix: 0 }, { kind: 'ip', address: '::', prefix: 0 }]);
  assert.ok(!permits(dnsOnly, parseHosts(['10.1.2.3'])[0]!));
  assert.ok(!permits(dnsOnly, parseHosts(['fd00::1'])[0]!));
  const ipOnly = constraintsFor(parseHosts(['10.0.0.5']));
  assert.deepEqual(ipOnly.excluded, [{ kind: 'dns', domain: '' }]);
  assert.ok(!permits(ipOnly, parseHosts(['anything.test'])[0]!));
  assert.ok(permits(ipOnly, parseHosts(['10.0.0.5'])[0]!));
});

test('no constraints permit everything', () => {
  assert.ok(permits(undefined, parseHosts(['anything.test'])[0]!));
});

test('DER encoding round-trips, masks included', () => {
  for (const hosts of [['registry.test', '127.0.0.1', '::1'], ['registry.test'], ['10.0.0.5', 'fd00::5']]) {
    const nc = constraintsFor(parseHosts(hosts));
    assert.deepEqual(roundTrip(nc), nc);
  }
  const wide = { permitted: [{ kind: 'ip' as const, address: '10.0.0.0', prefix: 8 }, { kind: 'ip' as const, address: 'fd00::', prefix: 20 }], excluded: [] };
  assert.deepEqual(roundTrip(wide), wide);
});

test('the encoding is the RFC 5280 structure', () => {
  const der = forge.asn1.toDer(encodeNameConstraints(constraintsFor(parseHosts(['a.test', '127.0.0.1'])))).toHex();
  // SEQUENCE { [0] { SEQUENCE { [2] "a.test" } SEQUENCE { [7] 7f000001 ffffffff } } }
  assert.equal(der, '3018a0163008820661' + Buffer.from('.test').toString('hex') + '300a87087f000001ffffffff');
});
