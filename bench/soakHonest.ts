// The soak's honest client (bench/soak.ts), in a process of its own so that
// the attackers' load on the harness does not count as the gateway's: alice
// pulls a manifest and a 1 MiB layer, one pull at a time, from her own
// address, with keep-alive, for N seconds. Prints its figures as JSON; the
// first pull (a new connection: TCP, TLS, and the wait in the listen queue
// behind the attackers' connections) apart from the others, which reuse it.
//   node --import tsx bench/soakHonest.ts URL CA_FILE SECONDS LAYER_DIGEST LAYER_BYTES
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { request } from '../test/helpers/https.js';

const [url, caFile, seconds, layerDigest, layerBytes] = process.argv.slice(2) as [string, string, string, string, string];
const ca = readFileSync(caFile, 'utf8');
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca, localAddress: '127.0.0.77' });
const times: number[] = [];
let firstMs: number | undefined;
const started = new Date().toISOString();
// The slowest pulls: when, and how long the manifest and the layer took.
const slow: { at: string; manifestMs: number; layerMs: number }[] = [];
let failed = 0;
for (const end = Date.now() + Number(seconds) * 1000; Date.now() < end;) {
  const t = performance.now();
  const at = new Date().toISOString();
  const m = await request(`${url}/v2/alice/app/manifests/1`, { ca, agent, user: 'alice:alice-pw', headers: { accept: OCI_MANIFEST } }).catch(() => undefined);
  const manifestMs = performance.now() - t;
  const b = m?.status === 200 ? await request(`${url}/v2/alice/app/blobs/${layerDigest}`, { ca, agent, user: 'alice:alice-pw' }).catch(() => undefined) : undefined;
  slow.push({ at, manifestMs: Math.round(manifestMs), layerMs: Math.round(performance.now() - t - manifestMs) });
  slow.sort((x, y) => y.manifestMs + y.layerMs - x.manifestMs - x.layerMs).splice(3);
  if (b?.status === 200 && b.body.length === Number(layerBytes)) {
    if (firstMs === undefined) firstMs = Math.round(performance.now() - t);
    else times.push(performance.now() - t);
  }
  else {
    failed++;
    await new Promise((r) => setTimeout(r, 200));
  }
}
agent.destroy();
const sorted = times.sort((a, b) => a - b);
const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? NaN;
process.stdout.write(`${JSON.stringify({ started, firstMs, slowest: slow, pulls: sorted.length, failed, p50: at(0.5), p99: at(0.99), worst: sorted.at(-1) ?? NaN })}\n`);
