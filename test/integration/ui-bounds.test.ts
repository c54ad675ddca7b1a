// The web UI reads bounded work (issue 21, item 1): the reviewer's payload
// (a 4 MB config blob, nearly all one created_by, named by every child of
// indexes of 100 and 150 images), pushed to a real docker-registry, must
// answer small, in little memory, without stalling another user's requests.
// A counting pass-through between gateway and registry shows one config
// read per digest and only the first platforms expanded.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gateway as gatewayCli } from '../helpers/exec.js';
import { startGateway } from '../helpers/gateway.js';
import { request } from '../helpers/https.js';
import { countingProxy } from '../helpers/countingProxy.js';
import { pushBigIndexes } from '../helpers/payloads.js';
import { startRegistry } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;

const work = await tempDir('gw-ui-bounds-');
const certs = join(work, 'certs');
const htpasswd = join(work, 'htpasswd');
assert.equal((await gatewayCli(['certs', 'init', '--dir', certs, '--host', 'localhost', '--host', '127.0.0.1'])).code, 0);
for (const user of ['carol', 'alice']) {
  assert.equal((await gatewayCli(['users', 'add', user, '--password-stdin', '--file', htpasswd, '--cost', '4'], { input: `${user}-pw` })).code, 0);
}
const ca = await readFile(join(certs, 'ca.crt'), 'utf8');
const registry = await startRegistry(work, { storage: join(work, 'storage') });
const counter = await countingProxy(registry.url);
const gw = await startGateway(work, {
  upstream: counter.url, tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') },
  auth: { mode: 'htpasswd', htpasswd },
  access: [{ account: 'carol', name: 'carol/**', actions: ['pull', 'push'] }, { account: 'alice', name: 'alice/**', actions: ['pull', 'push'] }],
});
after(async () => {
  await gw.stop();
  await counter.stop();
  await registry.stop();
});

// carol's push: one 4 MB config, 150 tiny image manifests naming it, and indexes of 100 and 150.
const { configDigest, children } = await pushBigIndexes(registry.url, 'carol/big');

const origin = `https://127.0.0.1:${gw.port}`;
const login = await request(`${gw.url}/ui/api/session`, {
  ca, method: 'POST', headers: { origin, 'content-type': 'application/json' }, body: JSON.stringify({ username: 'carol', password: 'carol-pw' }),
});
assert.equal(login.status, 200);
const cookie = login.headers['set-cookie']![0]!.split(';')[0]!;
const ui = (path: string) => request(`${gw.url}${path}`, { ca, headers: { cookie } });

const rssOf = async (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

test('indexes of 100 and 150 children over one 4 MB config: small answers, bounded memory, other users unhindered', async () => {
  // alice's /v2/ probes (every 200 ms in the review; closer here, the reads are short now); her login is done before.
  const alice = () => request(`${gw.url}/v2/`, { ca, user: 'alice:alice-pw' });
  assert.equal((await alice()).status, 200);
  const latencies: number[] = [];
  let probing = true;
  const probes = (async () => {
    while (probing) {
      const t = performance.now();
      assert.equal((await alice()).status, 200);
      latencies.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const before = await rssOf(gw.pid);
  let peak = before;
  const sampler = setInterval(() => void rssOf(gw.pid).then((r) => (peak = Math.max(peak, r)), () => {}), 20);
  counter.reset();
  const started = performance.now();
  // Both at once, twice over (a second read is the cache's).
  const answers = [];
  for (let round = 0; round < 2; round++) answers.push(...await Promise.all([ui('/ui/api/manifest?name=carol/big&ref=idx100'), ui('/ui/api/manifest?name=carol/big&ref=idx150')]));
  const elapsed = performance.now() - started;
  clearInterval(sampler);
  peak = Math.max(peak, await rssOf(gw.pid));
  probing = false;
  await probes;
  const sorted = [...latencies].sort((a, b) => a - b);
  const p99 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]!;
  console.log(`[ui-bounds] 4 answers in ${elapsed.toFixed(0)} ms; sizes ${answers.map((a) => a.body.length).join(', ')} bytes; ` +
    `RSS before ${(before / MiB).toFixed(1)} MiB, peak ${(peak / MiB).toFixed(1)} MiB (+${((peak - before) / MiB).toFixed(1)}); ` +
    `alice /v2/: ${latencies.length} probes, p99 ${p99.toFixed(0)} ms, worst ${sorted.at(-1)!.toFixed(0)} ms`);
  for (const a of answers) {
    assert.equal(a.status, 200, a.body.toString().slice(0, 300));
    assert.ok(a.body.length < MiB, `answer of ${a.body.length} bytes`);
  }
  assert.ok(peak - before < 64 * MiB, `RSS grew by ${((peak - before) / MiB).toFixed(1)} MiB`);
  assert.ok(sorted.at(-1)! < 2000, `alice's slowest /v2/ took ${sorted.at(-1)!.toFixed(0)} ms`);

  const [idx100, idx150] = [answers[0]!.json(), answers[1]!.json()];
  assert.equal(idx100.entries, 100);
  assert.equal(idx150.platforms.length, 150, 'every entry listed, from the index itself');
  const loaded = idx150.platforms.filter((p: { loaded: boolean }) => p.loaded);
  assert.equal(loaded.length, 16, 'the first 16 read in full');
  assert.ok(idx150.platforms.slice(0, 16).every((p: { loaded: boolean }) => p.loaded));
  assert.deepEqual(idx150.platforms[120].platform, { os: 'linux', architecture: 'amd64', variant: 'v120' });
  assert.equal(idx150.platforms[120].digest, children[120]!.digest);
  const history = loaded[0].config.history[0];
  assert.ok(history.createdBy.length <= 4096 + 20 && history.createdBy.endsWith('[truncated]'), 'created_by cut to 4 KiB and marked');
  assert.equal(loaded[0].config.truncated, true);
  // One read of the config for all of them; children read only for the platforms expanded.
  assert.equal(counter.count((l) => l === `GET /v2/carol/big/blobs/${configDigest}`), 1, 'the config is read once per digest');
  assert.ok(counter.count((l) => l.startsWith('GET /v2/carol/big/manifests/sha256:')) <= 16, 'children read for the first 16 only');
});

test('a platform listed only is read when opened (platform=), within the index', async () => {
  const r = await ui(`/ui/api/manifest?name=carol/big&ref=idx150&platform=${children[120]!.digest}`);
  assert.equal(r.status, 200, r.body.toString());
  const p = r.json();
  assert.equal(p.loaded, true);
  assert.equal(p.digest, children[120]!.digest);
  assert.equal(p.layers.length, 1);
  assert.equal(p.config.truncated, true);
  assert.ok(r.body.length < 128 * 1024);
  const outside = await ui(`/ui/api/manifest?name=carol/big&ref=idx100&platform=${children[120]!.digest}`);
  assert.equal(outside.status, 404, 'a digest the index does not name is not read through it');
  const notIndex = await ui(`/ui/api/manifest?name=carol/big&ref=child-1&platform=${children[1]!.digest}`);
  assert.equal(notIndex.status, 400);
  assert.equal(notIndex.json().error.code, 'NOT_INDEX');
});
