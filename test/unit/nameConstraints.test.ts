import { test } from 'node:test';
import assert from 'node:assert/strict';
import forge from 'node-forge';
import { parseHosts } from '../../src/certs/hosts.js';
import { constraintsFor, decodeNameConstraints, encodeNameConstraints, parseConstraint, permits } from '../../src/certs/nameConstraints.js';

const roundTrip = (nc: ReturnType<typeof constraintsFor>) => decodeNameConstraints(forge.asn1.toDer(encodeNameConstraints(nc)).getBytes());

test('exact: permits exactly the given names, their subdomains and wildcard parents', () => {
  const nc = constraintsFor(parseHosts(['registry.test', '*.apps.test', 'x.registry.test', '127.0.0.1', '::1']), 'exact');
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

test('exact: a name form with nothing permitted is excluded outright', () => {
  const dnsOnly = constraintsFor(parseHosts(['registry.test']), 'exact');
  assert.deepEqual(dnsOnly.excluded, [{ kind: 'ip', address: '0.0.0.0', prefix: 0 }, { kind: 'ip', address: '::', prefix: 0 }]);
  assert.ok(!permits(dnsOnly, parseHosts(['10.1.2.3'])[0]!));
  assert.ok(!permits(dnsOnly, parseHosts(['fd00::1'])[0]!));
  const ipOnly = constraintsFor(parseHosts(['10.0.0.5']), 'exact');
  assert.deepEqual(ipOnly.excluded, [{ kind: 'dns', domain: '' }]);
  assert.ok(!permits(ipOnly, parseHosts(['anything.test'])[0]!));
  assert.ok(permits(ipOnly, parseHosts(['10.0.0.5'])[0]!));
});

test('no constraints permit everything', () => {
  assert.ok(permits(undefined, parseHosts(['anything.test'])[0]!));
});

test('DER encoding round-trips, masks included', () => {
  for (const hosts of [['registry.test', '127.0.0.1', '::1'], ['registry.test'], ['10.0.0.5', 'fd00::5'], ['registry.example.com', '8.8.4.4']]) {
    for (const nc of [constraintsFor(parseHosts(hosts), 'exact'), constraintsFor(parseHosts(hosts))]) assert.deepEqual(roundTrip(nc), nc);
  }
  for (const hosts of [['registry.test']]) {
    const nc = constraintsFor(parseHosts(hosts), 'exact');
    assert.deepEqual(roundTrip(nc), nc);
  }
  const wide = { permitted: [{ kind: 'ip' as const, address: '10.0.0.0', prefix: 8 }, { kind: 'ip' as const, address: 'fd00::', prefix: 20 }], excluded: [] };
  assert.deepEqual(roundTrip(wide), wide);
});

test('the encoding is the RFC 5280 structure', () => {
  const der = forge.asn1.toDer(encodeNameConstraints(constraintsFor(parseHosts(['a.test', '127.0.0.1']), 'exact'))).toHex();
  // SEQUENCE { [0] { SEQUENCE { [2] "a.test" } SEQUENCE { [7] 7f000001 ffffffff } } }
  assert.equal(der, '3018a0163008820661' + Buffer.from('.test').toString('hex') + '300a87087f000001ffffffff');
});

test('private (the default): private names and addresses, and the given public ones, nothing else public', () => {
  const nc = constraintsFor(parseHosts(['registry.example.com', 'localhost', '127.0.0.1', '::1', '203.0.113.5', 'registry.lan']));
  assert.deepEqual(nc.excluded, []);
  const ok = (h: string) => permits(nc, parseHosts([h])[0]!);
  // Gained later by a private registry: the CA can stay.
  for (const h of ['registry.lan', 'reg.internal', 'nas.home.arpa', 'printer.local', 'reg.svc.cluster.local', 'x.test', 'a.localhost',
    '10.1.2.3', '172.31.0.1', '192.168.1.20', '169.254.1.1', '100.100.1.1', '198.18.99.214', '127.0.0.2', 'fd12:3456::1', 'fe80::1',
    'mirror.registry.example.com', '203.0.113.5']) assert.ok(ok(h), h);
  // Public names and addresses: a leaked ca.key still cannot impersonate them.
  for (const h of ['example.com', 'github.com', 'registry-1.docker.io', 'evilregistry.example.com', '8.8.8.8', '203.0.113.6',
    '172.32.0.1', '192.169.0.1', '2001:db8::1', 'lan.evil.com']) assert.ok(!ok(h), h);
  // Entries already covered are not repeated (127.0.0.1 in 127/8, registry.lan under lan).
  const listed = nc.permitted.map((c) => (c.kind === 'dns' ? c.domain : c.kind === 'ip' ? `${c.address}/${c.prefix}` : ''));
  assert.equal(listed.filter((x) => x === '127.0.0.1/32' || x === 'registry.lan').length, 0, listed.join(' '));
  assert.ok(listed.includes('registry.example.com') && listed.includes('203.0.113.5/32'), listed.join(' '));
});

test('--permit values: a domain or a CIDR range, normalised to its network', () => {
  assert.deepEqual(parseConstraint('Corp.Example.com'), { kind: 'dns', domain: 'corp.example.com' });
  assert.deepEqual(parseConstraint('*.corp.example.com'), { kind: 'dns', domain: 'corp.example.com' });
  assert.deepEqual(parseConstraint('203.0.113.7/24'), { kind: 'ip', address: '203.0.113.0', prefix: 24 });
  assert.deepEqual(parseConstraint('2001:db8:1::5/48'), { kind: 'ip', address: '2001:db8:1::', prefix: 48 });
  assert.deepEqual(parseConstraint('8.8.8.8'), { kind: 'ip', address: '8.8.8.8', prefix: 32 });
  assert.throws(() => parseConstraint('10.0.0.0/33'), /prefix length must be 1 to 32/);
  assert.throws(() => parseConstraint('a/b'), /expected a domain .* or an address range/);
  assert.throws(() => parseConstraint('bad_name'), /^GatewayError: invalid --permit 'bad_name': DNS names use only/);
});
