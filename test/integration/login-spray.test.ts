// Password checks serve clean sources first (issue 21, item 3): 80 source
// addresses spray GET /v2/ with random unknown users (each a bcrypt run at
// cost 10, as for a real user, on the gateway's one worker of two cores),
// and bob, who never logged in, tries from a clean address meanwhile: his
// first correct login answers 200 at once, not after the sprayers' queue.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { randomBytes } from 'node:crypto';
import { gateway as gatewayCli } from '../helpers/exec.js';
import { startGateway } from '../helpers/gateway.js';
import { request } from '../helpers/https.js';
import { startRegistry } from '../helpers/registry.js';
import { stage } from '../helpers/stage.js';
import { join } from 'node:path';

const SPRAYERS = 80;
const PER_SPRAYER = 4;
const { work, htpasswd, ca, tls } = await stage({ alice: 'alice-pw' });
// bob at htpasswd -B's usual cost: his own check costs what a real one does.
for (const user of ['bob', 'erin']) {
  const added = await gatewayCli(['users', 'add', user, '--password-stdin', '--file', htpasswd, '--cost', '10'], { input: `${user}-password` });
  assert.equal(added.code, 0, added.stderr);
}
const registry = await startRegistry(work, { storage: join(work, 'storage') });
const gw = await startGateway(work, { upstream: registry.url, tls, auth: { mode: 'htpasswd', htpasswd }, access: [{ account: '*', name: '**', actions: ['pull'] }] });
after(async () => {
  await gw.stop();
  await registry.stop();
});

const basic = (user: string, pw: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}` });

/**
 * A client at a clean address with its connection already open (docker
 * keeps one): what its first login then waits for is the password check,
 * not a handshake behind the sprayers' connections on a loaded machine.
 */
async function connected(from: string): Promise<(user: string) => Promise<{ status: number; ms: number }>> {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca, localAddress: from });
  after(() => agent.destroy());
  assert.equal((await request(`${gw.url}/livez`, { ca, agent })).status, 200);
  return async (user) => {
    const started = performance.now();
    const r = await request(`${gw.url}/v2/`, { ca, agent, headers: basic(user, `${user}-password`) });
    return { status: r.status, ms: performance.now() - started };
  };
}

test('80 addresses spraying unknown users: bob\'s first correct login from a clean address answers 200 at once', async () => {
  // Without the spray, for comparison: erin's first login.
  const quiet = await (await connected('127.0.0.199'))('erin');
  const bobLogin = await connected('127.0.0.200');
  assert.equal(quiet.status, 200);
  const counts: Record<string, number> = {};
  let spraying = true;
  const agents: https.Agent[] = [];
  const sprayer = async (address: string) => {
    // Keep-alive, as a real sprayer would: the gateway's cost is the checks, not handshakes.
    const agent = new https.Agent({ keepAlive: true, maxSockets: PER_SPRAYER, ca, localAddress: address });
    agents.push(agent);
    await Promise.all(Array.from({ length: PER_SPRAYER }, async () => {
      while (spraying) {
        const r = await request(`${gw.url}/v2/`, { ca, agent, headers: basic(`nobody-${randomBytes(6).toString('hex')}`, 'guess') }).catch(() => undefined);
        const key = String(r?.status ?? 'error');
        counts[key] = (counts[key] ?? 0) + 1;
        if (r?.status === 429) await new Promise((res) => setTimeout(res, 50));
      }
    }));
  };
  const spray = Promise.all(Array.from({ length: SPRAYERS }, (_, i) => sprayer(`127.0.1.${i + 1}`)));
  try {
    // Well into the spray: the queue is full of the sprayers' checks.
    await new Promise((r) => setTimeout(r, 5000));
    const t0 = performance.now();
    const live = await request(`${gw.url}/livez`, { ca, localAddress: '127.0.0.201' });
    const liveMs = performance.now() - t0;
    console.log(`[login-spray] /livez on a new connection: ${live.status} in ${liveMs.toFixed(0)} ms`);
    const bob = await bobLogin('bob');
    console.log(`[login-spray] bob's first login during the spray: ${bob.status} in ${bob.ms.toFixed(0)} ms ` +
      `(erin's without it: ${quiet.ms.toFixed(0)} ms); sprayers so far: ${JSON.stringify(counts)}`);
    assert.equal(bob.status, 200);
    // The issue's target is 1 s; the bound is generous, and relative to what a request with no password
    // check takes right now: a machine busy with other work slows everything, a login stuck behind the
    // spray waits far longer.
    const bound = 10_000 + 2 * liveMs;
    assert.ok(bob.ms < bound, `bob waited ${bob.ms.toFixed(0)} ms (bound ${bound.toFixed(0)}; /livez took ${liveMs.toFixed(0)} ms)`);
  } finally {
    spraying = false;
    await spray;
    agents.forEach((a) => a.destroy());
  }
  assert.equal(counts['200'] ?? 0, 0, 'no sprayer got in');
  assert.ok((counts['401'] ?? 0) > 0 && (counts['429'] ?? 0) > 0, `sprayers: ${JSON.stringify(counts)}`);
});
