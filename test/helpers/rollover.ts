// A CA rollover step as an operator runs it, waited for until the running
// gateway serves the new trust set (and, at switch, its re-issued certificate).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readTrustPem } from '../../src/certs/trustSet.js';
import { gateway as gatewayCli } from './exec.js';
import type { GatewayProcess } from './gateway.js';

/** The SHA-256 of the trust set nodes are given now (what the setup command pins). */
export const trustSha256 = async (certs: string) => createHash('sha256').update(await readTrustPem(certs)).digest('hex');

/** Runs `gateway certs rollover NAME` and waits for `gw` to serve it; returns the trust set's SHA-256. */
export async function rolloverStep(gw: GatewayProcess, certs: string, name: 'start' | 'switch' | 'finish'): Promise<string> {
  const from = gw.entries().length;
  const r = await gatewayCli(['certs', 'rollover', name, '--dir', certs]);
  assert.equal(r.code, 0, r.stderr);
  const expected = await trustSha256(certs);
  await gw.waitFor((e) => e.caSha256 === expected && Array.isArray(e.commands), from, 15_000);
  if (name === 'switch') await gw.waitFor((e) => e.msg === 'TLS certificate reloaded', from, 15_000);
  return expected;
}
