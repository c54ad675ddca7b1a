// The common stage for tests that need a non-loopback registry address: a
// test network namespace holding a docker-registry, with certificates for
// the namespace's address and a user alice:alice-pw.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { gateway as gatewayCli } from './exec.js';
import { createTestHost, type TestHost } from './netns.js';
import { startRegistry, type Registry } from './registry.js';
import { startGateway, type GatewayProcess } from './gateway.js';
import { tempDir } from './tmp.js';

export interface Stage {
  work: string;
  host: TestHost;
  certs: string;
  htpasswd: string;
  /** Listening on 127.0.0.1:5000 inside the namespace. */
  registry: Registry;
}

export async function namespacedStage(cleanups: (() => Promise<unknown>)[]): Promise<Stage> {
  const work = await tempDir();
  const host = await createTestHost();
  cleanups.push(() => host.remove());
  const certs = join(work, 'certs');
  const htpasswd = join(work, 'htpasswd');
  const init = await gatewayCli(['certs', 'init', '--dir', certs, '--host', host.address]);
  assert.equal(init.code, 0, init.stderr);
  const user = await gatewayCli(['users', 'add', 'alice', '--password-stdin', '--file', htpasswd, '--cost', '4'], { input: 'alice-pw' });
  assert.equal(user.code, 0, user.stderr);
  const registry = await startRegistry(work, { storage: join(work, 'storage'), port: 5000, prefix: host.prefix });
  cleanups.push(() => registry.stop());
  return { work, host, certs, htpasswd, registry };
}

/** The stage plus a gateway (htpasswd mode) serving it on the namespace's address, port 5443. */
export async function namespacedGateway(cleanups: (() => Promise<unknown>)[]): Promise<Stage & { address: string; gw: GatewayProcess }> {
  const stage = await namespacedStage(cleanups);
  const address = `${stage.host.address}:5443`;
  const gw = await startGateway(stage.work, {
    listen: address,
    upstream: 'http://127.0.0.1:5000',
    tls: { cert: join(stage.certs, 'server.crt'), key: join(stage.certs, 'server.key') },
    auth: { mode: 'htpasswd', htpasswd: stage.htpasswd },
  }, { prefix: stage.host.prefix, host: stage.host.address });
  cleanups.push(() => gw.stop());
  return { ...stage, address, gw };
}
