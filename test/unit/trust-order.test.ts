// /trust/'s setup commands, node-reachable addresses first
// (trust/endpoint.ts): a node resolves names with its own resolv.conf, so a
// Service name (NAME.NS.svc.cluster.local) and loopback go last, whatever the
// certificate's order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAddress } from '../../src/bundle/address.js';
import { createTrust, isClusterName, nodeReachableFirst } from '../../src/trust/endpoint.js';
import { X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const names = (xs: string[]) => nodeReachableFirst(xs.map(parseAddress)).map((a) => a.name);

test('Service names and loopback go after the addresses a node can reach, in the certificate\'s order otherwise', () => {
  assert.deepEqual(names([
    'registry-gateway.registry-gateway.svc.cluster.local:5443', 'localhost:5443', '10.96.0.50:5443', 'registry.example.test:5443',
    '127.0.0.1:5443', 'registry-gateway.infra.svc:5443',
  ]), [
    '10.96.0.50:5443', 'registry.example.test:5443',
    'registry-gateway.registry-gateway.svc.cluster.local:5443', 'registry-gateway.infra.svc:5443',
    'localhost:5443', '127.0.0.1:5443',
  ]);
  assert.equal(isClusterName('registry-gateway.ns.svc.cluster.local'), true);
  assert.equal(isClusterName('registry-gateway.ns.svc'), true);
  assert.equal(isClusterName('svc.example.test'), false);
});

test('the /trust/ index and its first command name the node-reachable address', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-trust-order-'));
  try {
    const key = join(dir, 'ca.key');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key,
      '-out', join(dir, 'ca.crt'), '-subj', '/CN=test CA', '-days', '1'], { stdio: 'ignore' });
    const pem = readFileSync(join(dir, 'ca.crt'), 'utf8');
    assert.ok(new X509Certificate(pem));
    const trust = await createTrust(pem, ['registry-gateway.ns.svc.cluster.local:5443', '10.96.0.50:5443'].map(parseAddress));
    assert.deepEqual(trust.addresses, ['10.96.0.50:5443', 'registry-gateway.ns.svc.cluster.local:5443']);
    assert.match(trust.commands[0]!, /https:\/\/10\.96\.0\.50:5443\/trust\/ca\.crt/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
