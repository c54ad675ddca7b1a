// PROXY protocol framing and parsing (src/server/proxyProtocol.ts) and the
// trusted list (src/util/cidr.ts, proxyProtocol in gateway.yaml). The
// headers are written here byte by byte from haproxy's proxy-protocol.txt,
// not with the parsing library's own builder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { looksLikeHeader, MAX_V2_HEADER, readHeader } from '../../src/server/proxyProtocol.js';
import { cidrMatcher, parseCidr } from '../../src/util/cidr.js';
import { validateConfig } from '../../src/config/config.js';
import { GatewayError } from '../../src/errors.js';

const SIG = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
const CLIENT_HELLO = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]);

function v2(command: number, family: number, address: number[], tlvs: number[] = []): Buffer {
  const body = [...address, ...tlvs];
  return Buffer.from([...SIG, 0x20 | command, family, body.length >> 8, body.length & 0xff, ...body]);
}
const ipv4 = (src: number[], dst: number[], sport: number, dport: number) =>
  [...src, ...dst, sport >> 8, sport & 0xff, dport >> 8, dport & 0xff];

test('v1: TCP4 and TCP6 give the source address and the header length; the TLS bytes after it stay', () => {
  const line = 'PROXY TCP4 198.51.100.7 10.0.0.5 51234 5443\r\n';
  const got = readHeader(Buffer.concat([Buffer.from(line), CLIENT_HELLO]));
  assert.deepEqual(got, { kind: 'header', length: line.length, version: 1, source: '198.51.100.7' });
  const six = 'PROXY TCP6 2001:db8::1 2001:db8::2 4000 5443\r\n';
  assert.deepEqual(readHeader(Buffer.from(six)), { kind: 'header', length: six.length, version: 1, source: '2001:db8::1' });
  // UNKNOWN: the sender cannot tell; the connection's own address is used.
  assert.deepEqual(readHeader(Buffer.from('PROXY UNKNOWN\r\n')), { kind: 'header', length: 15, version: 1 });
});

test('v1: incomplete until the CRLF; malformed, wrong-family or over-long lines are invalid', () => {
  assert.equal(readHeader(Buffer.from('PRO')).kind, 'incomplete');
  assert.equal(readHeader(Buffer.from('PROXY TCP4 198.51.100.7 10.0.0.5 5')).kind, 'incomplete');
  assert.equal(readHeader(Buffer.from('PROXY TCP4 2001:db8::1 10.0.0.5 1 2\r\n')).kind, 'invalid');
  assert.equal(readHeader(Buffer.from('PROXY TCP4 198.51.100.7 10.0.0.5 99999 2\r\n')).kind, 'invalid');
  assert.equal(readHeader(Buffer.from('PROXY TCP4 nothing here 1 2\r\n')).kind, 'invalid');
  assert.equal(readHeader(Buffer.from('PROXY TCP5 198.51.100.7 10.0.0.5 1 2\r\n')).kind, 'invalid');
  assert.equal(readHeader(Buffer.from(`PROXY ${'x'.repeat(120)}`)).kind, 'invalid', 'no CRLF within 107 bytes');
});

test('v2: PROXY over IPv4 and IPv6 (IPv4-mapped as IPv4), TLVs skipped; LOCAL uses the peer', () => {
  const four = v2(1, 0x11, ipv4([203, 0, 113, 9], [10, 0, 0, 5], 40000, 5443));
  assert.deepEqual(readHeader(Buffer.concat([four, CLIENT_HELLO])), { kind: 'header', length: 28, version: 2, source: '203.0.113.9' });
  const withTlv = v2(1, 0x11, ipv4([203, 0, 113, 9], [10, 0, 0, 5], 1, 2), [0x01, 0x00, 0x02, 0x68, 0x32]); // ALPN h2
  assert.deepEqual(readHeader(withTlv), { kind: 'header', length: 33, version: 2, source: '203.0.113.9' });
  const v6 = [0x20, 0x01, 0x0d, 0xb8, ...Array<number>(11).fill(0), 0x07];
  const six = v2(1, 0x21, [...v6, ...Array<number>(16).fill(0), 0, 1, 0, 2]);
  assert.deepEqual(readHeader(six), { kind: 'header', length: 52, version: 2, source: '2001:db8:0:0:0:0:0:7' });
  const mapped = [...Array<number>(10).fill(0), 0xff, 0xff, 192, 0, 2, 33];
  assert.equal((readHeader(v2(1, 0x21, [...mapped, ...Array<number>(16).fill(0), 0, 1, 0, 2])) as { source: string }).source, '192.0.2.33');
  assert.deepEqual(readHeader(v2(0, 0x00, [])), { kind: 'header', length: 16, version: 2 }, 'LOCAL (a health check)');
});

test('v2: incomplete until its length is in; too long, a wrong version or a short address block are invalid', () => {
  const four = v2(1, 0x11, ipv4([203, 0, 113, 9], [10, 0, 0, 5], 1, 2));
  for (const n of [1, 11, 12, 15, 16, 27]) assert.equal(readHeader(four.subarray(0, n)).kind, 'incomplete', `${n} bytes`);
  const long = Buffer.from([...SIG, 0x21, 0x11, 0xff, 0xff]);
  assert.match((readHeader(long) as { reason: string }).reason, new RegExp(`at most ${MAX_V2_HEADER}`));
  const v1Version = Buffer.from(four);
  v1Version[12] = 0x11;
  assert.equal(readHeader(v1Version).kind, 'invalid');
  assert.equal(readHeader(v2(1, 0x11, [1, 2, 3, 4])).kind, 'invalid', 'an IPv4 block shorter than 12 bytes');
});

test('a TLS ClientHello is no header; looksLikeHeader tells a spoofed header from TLS', () => {
  assert.deepEqual(readHeader(CLIENT_HELLO), { kind: 'none' });
  assert.equal(looksLikeHeader(CLIENT_HELLO), false);
  assert.equal(looksLikeHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n')), true);
  assert.equal(looksLikeHeader(Buffer.from(SIG)), true);
  assert.equal(looksLikeHeader(Buffer.from('GET / HTTP/1.1\r\n')), false);
});

test('trusted CIDRs: IPv4, IPv6, single addresses; IPv4-mapped peers match IPv4 entries', () => {
  const trusted = cidrMatcher(['10.0.0.0/8', '192.0.2.10', 'fd00::/8']);
  assert.equal(trusted('10.1.2.3'), true);
  assert.equal(trusted('::ffff:10.1.2.3'), true);
  assert.equal(trusted('11.0.0.1'), false);
  assert.equal(trusted('192.0.2.10'), true);
  assert.equal(trusted('192.0.2.11'), false);
  assert.equal(trusted('fd12::1'), true);
  assert.equal(trusted('fe80::1'), false);
  assert.equal(trusted(undefined), false);
  assert.match(String(parseCidr('0.0.0.0/0')), /trusts every address/);
  assert.match(String(parseCidr('10.0.0.0/33')), /prefix length must be 0 to 32/);
  assert.match(String(parseCidr('example.test/8')), /not an IP address or CIDR/);
});

test('gateway.yaml: proxyProtocol is validated with the entry and the fix named', () => {
  const ok = validateConfig({ proxyProtocol: { trusted: ['10.0.0.0/8'] } }, {}, 'gateway.yaml');
  assert.deepEqual(ok.proxyProtocol, { trusted: ['10.0.0.0/8'], required: true });
  const bad = (raw: unknown) => {
    try {
      validateConfig(raw, {}, 'gateway.yaml');
    } catch (err) {
      assert.ok(err instanceof GatewayError);
      return err.message;
    }
    return assert.fail('accepted');
  };
  assert.match(bad({ proxyProtocol: { trusted: ['10.0.0.0/99'] } }), /proxyProtocol\.trusted\.0: '10\.0\.0\.0\/99': the prefix length/);
  assert.match(bad({ proxyProtocol: { trusted: ['::/0'] } }), /trusts every address/);
  assert.match(bad({ proxyProtocol: { trusted: [] } }), /proxyProtocol\.trusted: list the addresses/);
  assert.match(bad({ proxyProtocol: { trusted: ['10.0.0.0/8'], strict: true } }), /unknown key\(s\) 'strict'/);
});

test('the address a PROXY header gave the raw socket is the request\'s client (throttles, shares, log, X-Forwarded-For)', async () => {
  const { default: https } = await import('node:https');
  const { execFileSync } = await import('node:child_process');
  const { mkdtempSync, readFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { setClientAddress } = await import('../../src/util/clientAddress.js');
  const { clientAddress } = await import('../../src/proxy/handler.js');
  const dir = mkdtempSync(join(tmpdir(), 'gw-client-address-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'k.pem'),
      '-out', join(dir, 'c.pem'), '-subj', '/CN=localhost', '-days', '1'], { stdio: 'ignore' });
    const seen: string[] = [];
    const server = https.createServer({ key: readFileSync(join(dir, 'k.pem')), cert: readFileSync(join(dir, 'c.pem')) }, (req, res) => {
      seen.push(clientAddress(req));
      res.end('ok');
    });
    // As connections.ts does before TLS starts: on the raw socket.
    let n = 0;
    server.prependListener('connection', (raw: import('node:net').Socket) => {
      if (n++ === 0) setClientAddress(raw, '198.51.100.7');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const get = () => new Promise<void>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port, rejectUnauthorized: false, agent: false }, (res) => res.resume().on('end', resolve)).on('error', reject);
    });
    await get();
    await get();
    server.close();
    assert.deepEqual(seen, ['198.51.100.7', '127.0.0.1'], 'the header\'s address; a connection without one: its peer');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
