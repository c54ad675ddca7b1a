import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig, validateConfig } from '../../src/config/config.js';
import { GatewayError } from '../../src/errors.js';
import { tempDir } from '../helpers/tmp.js';

const refuses = (raw: unknown, message: RegExp, overrides = {}) =>
  assert.throws(() => validateConfig(raw, overrides, 'gw.yaml'), (e: unknown) => e instanceof GatewayError && e.code === 'INVALID_CONFIG' && message.test(e.message));

test('defaults fill a minimal config', () => {
  const c = validateConfig({}, {}, 'gw.yaml');
  assert.equal(c.listen, '[::]:5443', 'both address families where the kernel has IPv6');
  assert.deepEqual(c.tls.renew, { before: 30, days: 365, every: 3600 });
  assert.equal(c.upstream, undefined, 'unset: serve uses the default, up starts a local registry');
  assert.equal(c.auth.mode, 'htpasswd');
  assert.equal(c.timeouts.idle, 900);
  assert.equal(c.access, undefined);
});

test('errors name the field path and what was expected', () => {
  refuses({ lisen: '0.0.0.0:1' }, /^gw\.yaml: unknown key\(s\) 'lisen'/);
  refuses({ tls: { cert: 'a', keyy: 'b' } }, /^gw\.yaml: tls: unknown key\(s\) 'keyy'/);
  refuses({ listen: 70000 }, /^gw\.yaml: listen: the port must be 1 to 65535/);
  refuses({ listen: true }, /^gw\.yaml: listen: expected host:port or a port/);
  refuses({ listen: 'localhost' }, /listen: expected host:port/);
  refuses({ upstream: 'ftp://x' }, /upstream: expected an http or https URL/);
  refuses({ publicUrl: 'http://x:1' }, /publicUrl: expected an https URL/);
  refuses({ auth: { mode: 'ldap' } }, /auth\.mode: /);
  refuses({ access: [{ account: 'a', name: 'x', actions: ['pull', 'fly'] }] }, /access\.0\.actions\.1: /);
  refuses({ access: [{ account: 'a', name: 'X Y', actions: ['pull'] }] }, /access\.0\.name: expected a repository glob/);
  refuses({ timeouts: { idle: 0 } }, /timeouts\.idle: /);
  refuses([], /expected a mapping/);
  refuses({ metrics: { hosts: ['evil.example:9464'] } }, /metrics\.hosts\.0: expected a host name or address, without a port/);
});

test('metrics.hosts defaults to localhost; addresses are always accepted', () => {
  assert.deepEqual(validateConfig({ metrics: {} }, {}, 'gw.yaml').metrics, { listen: '127.0.0.1:9464', hosts: ['localhost'] });
});

test('a port alone is that port on every address, as \':PORT\' is: in the file (a YAML number or string) and from --listen', () => {
  assert.equal(validateConfig({ listen: 5443 }, {}, 'gw.yaml').listen, ':5443');
  assert.equal(validateConfig({ listen: '6000' }, {}, 'gw.yaml').listen, ':6000');
  assert.equal(validateConfig({}, { listen: '6000' }, 'gw.yaml').listen, ':6000');
  assert.equal(validateConfig({ metrics: { listen: 9465 } }, {}, 'gw.yaml').metrics?.listen, ':9465');
});

test('--port sets the port and keeps the host of listen (flag, file or default)', () => {
  assert.equal(validateConfig({}, { port: 6000 }, 'gw.yaml').listen, '[::]:6000');
  assert.equal(validateConfig({ listen: '127.0.0.1:5443' }, { port: 6000 }, 'gw.yaml').listen, '127.0.0.1:6000');
  assert.equal(validateConfig({ listen: 5443 }, { port: 6000 }, 'gw.yaml').listen, ':6000');
  assert.equal(validateConfig({}, { listen: '[::1]:1', port: 6000 }, 'gw.yaml').listen, '[::1]:6000');
});

test('flags override the file', () => {
  const c = validateConfig({ listen: '0.0.0.0:5443', tls: { clientCA: 'ca.crt' }, auth: { mode: 'none' } }, { listen: '127.0.0.1:1', certs: 'c', htpasswd: 'h', auth: 'htpasswd', upstream: 'http://u:1' }, 'gw.yaml');
  assert.equal(c.listen, '127.0.0.1:1');
  assert.deepEqual(c.tls, { cert: 'c/server.crt', key: 'c/server.key', clientCA: 'ca.crt', renew: { before: 30, days: 365, every: 3600 } });
  assert.deepEqual([c.auth.mode, c.auth.htpasswd], ['htpasswd', 'h']);
  assert.equal(c.upstream, 'http://u:1');
});

test('a bad flag value is blamed on the flag, not on the file', () => {
  const flag = (overrides: Record<string, string>, message: RegExp) =>
    assert.throws(() => validateConfig({}, overrides, 'config/gateway.yaml'),
      (e: unknown) => e instanceof GatewayError && e.code === 'INVALID_ARGUMENT' && message.test(e.message) && !e.message.includes('gateway.yaml'));
  flag({ upstream: 'ftp://x' }, /^invalid --upstream 'ftp:\/\/x': expected an http or https URL/);
  flag({ listen: 'nope' }, /^invalid --listen 'nope': expected host:port/);
  flag({ auth: 'kerberos' }, /^invalid --auth 'kerberos': .*"none"\|"htpasswd"\|"token"/);
  flag({ publicUrl: 'http://x' }, /^invalid --public-url 'http:\/\/x': expected an https URL/);
  // The same value from the file is the file's.
  refuses({ upstream: 'ftp://x' }, /^gw\.yaml: upstream: /);
});

test('YAML errors and duplicate keys are reported with the file name', async () => {
  const dir = await tempDir();
  const bad = join(dir, 'bad.yaml');
  await writeFile(bad, 'listen: a:1\nlisten: b:2\n');
  await assert.rejects(loadConfig(bad, {}), /bad\.yaml: .*(unique|duplicate)/i);
  await assert.rejects(loadConfig(join(dir, 'none.yaml'), {}), /cannot read config .*none\.yaml: ENOENT/);
  // A syntax error: the message, then the line with the one before it, and a caret under the column.
  const syntax = join(dir, 'syntax.yaml');
  await writeFile(syntax, 'upstream: http://127.0.0.1:5000\nauth:\n  mode: htpasswd\n   htpasswd: x\n');
  await assert.rejects(loadConfig(syntax, {}), (e: Error) => {
    assert.equal(e.message.split('\n').slice(1).join('\n'), '  2 | auth:\n  3 |   mode: htpasswd\n    |         ^');
    assert.match(e.message.split('\n')[0]!, /syntax\.yaml: Nested mappings .* at line 3, column 9$/);
    return true;
  });
  const example = await loadConfig(new URL('../../config/gateway.yaml', import.meta.url).pathname, {});
  assert.equal(example.access?.length, 4, 'the shipped example is valid');
});

test('upstream shares: unset, fractions of limits.upstreamSockets that leave room; over half of it is refused', () => {
  const c = validateConfig({}, {}, 'gw.yaml');
  const l = c.limits;
  assert.deepEqual([l.upstreamSockets, l.upstreamAnonymous, l.upstreamPerAccount, l.upstreamPerAddress], [256, 64, 64, 32]);
  // Anonymous callers, one account and one address, with one more account, still fit (issue 21).
  assert.ok(l.upstreamAnonymous + l.upstreamPerAccount + l.upstreamPerAddress + l.upstreamPerAccount < l.upstreamSockets);
  const scaled = validateConfig({ limits: { upstreamSockets: 32 } }, {}, 'gw.yaml').limits;
  assert.deepEqual([scaled.upstreamAnonymous, scaled.upstreamPerAccount, scaled.upstreamPerAddress], [8, 8, 4]);
  assert.equal(validateConfig({ limits: { upstreamPerAccount: 128 } }, {}, 'gw.yaml').limits.upstreamPerAccount, 128, 'half is allowed');
  refuses({ limits: { upstreamPerAccount: 129 } }, /limits\.upstreamPerAccount: at most half of limits\.upstreamSockets \(128\)/);
  refuses({ limits: { upstreamSockets: 16, upstreamAnonymous: 9 } }, /limits\.upstreamAnonymous: at most half .* \(8\)/);
});

test('timeouts.bodyMinBytes and timeouts.poolWait: defaults and bounds', () => {
  const c = validateConfig({}, {}, 'gw.yaml');
  assert.deepEqual([c.timeouts.bodyMinBytes, c.timeouts.poolWait], [8192, 10]);
  refuses({ timeouts: { bodyMinBytes: 0 } }, /timeouts\.bodyMinBytes: /);
  refuses({ timeouts: { poolWait: 0 } }, /timeouts\.poolWait: /);
  refuses({ timeouts: { poolWait: 301 } }, /timeouts\.poolWait: at most 300/);
});
