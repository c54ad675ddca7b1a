import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultHosts, parseHost, parseHosts, wildcardWarnings } from '../../src/certs/hosts.js';
import { GatewayError } from '../../src/errors.js';

test('each value becomes exactly one SAN type', () => {
  assert.deepEqual(parseHost('Registry.Example.TEST'), { kind: 'dns', name: 'registry.example.test' });
  assert.deepEqual(parseHost('registry.test.'), { kind: 'dns', name: 'registry.test' });
  assert.deepEqual(parseHost('*.apps.test'), { kind: 'dns', name: '*.apps.test' });
  assert.deepEqual(parseHost('10.0.0.5'), { kind: 'ip', address: '10.0.0.5', version: 4 });
  assert.deepEqual(parseHost('::0001'), { kind: 'ip', address: '::1', version: 6 });
  assert.deepEqual(parseHost('[fd00::5]'), { kind: 'ip', address: 'fd00::5', version: 6 });
  assert.deepEqual(parseHost('bücher.test'), { kind: 'dns', name: 'xn--bcher-kva.test' });
});

const refusals: [string, RegExp][] = [
  ['foo_bar!', /only letters, digits, '-' and '\.'; found '_'/],
  ['a..b', /empty label/],
  ['*', /bare '\*'/],
  ['127.0.0.1:5443', /takes no port: write '127\.0\.0\.1'/],
  ['registry.test:5443', /takes no port: write 'registry\.test'/],
  ['[::1]:5443', /takes no port: write '::1'/],
  ['a.*.test', /only as the whole first label/],
  ['foo*.test', /whole label/],
  ['-lead.test', /must not start or end with '-'/],
  ['256.1.1.1', /not a valid IPv4 address/],
  ['fe80::1%eth0', /zone index/],
  ['example.123', /cannot be all digits/],
  [`${'a'.repeat(64)}.test`, /longer than 63/],
  ['', /empty name/],
];

for (const [value, rule] of refusals) {
  test(`refuses ${JSON.stringify(value)} naming the rule`, () => {
    assert.throws(() => parseHost(value), (err: unknown) => {
      assert.ok(err instanceof GatewayError);
      assert.equal(err.code, 'INVALID_HOST');
      assert.match(err.message, new RegExp(`^invalid --host '${value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}'`));
      assert.match(err.message, rule);
      return true;
    });
  });
}

test('duplicates collapse, order kept', () => {
  assert.deepEqual(parseHosts(['b.test', '::1', 'B.test', '0:0::1', 'a.test']).map((h) => (h.kind === 'dns' ? h.name : h.address)), ['b.test', '::1', 'a.test']);
});

test('defaults: loopback names, both families and the machine name when valid', () => {
  const warnings: string[] = [];
  assert.deepEqual(defaultHosts((w) => warnings.push(w), 'builder-7').map((h) => (h.kind === 'dns' ? h.name : h.address)), ['localhost', '127.0.0.1', '::1', 'builder-7']);
  assert.equal(warnings.length, 0);
  assert.equal(defaultHosts((w) => warnings.push(w), 'bad_host').length, 3);
  assert.match(warnings[0]!, /bad_host.*not a valid DNS name/);
});

test('second-level wildcards are warned about', () => {
  assert.equal(wildcardWarnings(parseHosts(['*.test', '*.apps.test'])).length, 1);
});
