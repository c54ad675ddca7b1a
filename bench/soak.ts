// npm run bench -- --only soak [--seconds N]: the three attacks of issue 21
// at once against one gateway with the default budgets, while an honest
// client (alice, from her own address) pulls a manifest and a 1 MiB layer
// in a loop. Reported: alice's pull latency (p50, p99, worst) against a run
// without attackers, the gateway's resident memory before, at peak and
// after, its event-loop lag (registry_gateway_nodejs_eventloop_lag_seconds,
// scraped each second), and what each attacker got.
//   1. the web UI: carol, who may push, reads her indexes of 100 and 150
//      children over one 4 MB config, and platforms of them, in a loop;
//   2. the upstream pool: 64 anonymous blob GETs from each of two addresses
//      whose readers pause, and 64 of carol's PATCHes from each of two more
//      trickling a byte a second, reopened as the gateway cuts them;
//   3. logins: 80 addresses sending GET /v2/ with random unknown users.
// Not in CI: it takes about (seconds + 40) s and all of a small machine.
import { writeFileSync, readFileSync, mkdirSync } from 'node:fs';
import https from 'node:https';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { startGateway, type GatewayProcess } from '../test/helpers/gateway.js';
import { request } from '../test/helpers/https.js';
import { OCI_MANIFEST, OCI_CONFIG, putBlob, putManifest, pushBigIndexes } from '../test/helpers/payloads.js';
import { freePort, startRegistry } from '../test/helpers/registry.js';
import { stage } from '../test/helpers/stage.js';

const arg = (name: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const SECONDS = Number(arg('--seconds') ?? 60);
const BASELINE_SECONDS = Math.min(20, SECONDS);
const log = (m: string) => process.stderr.write(`soak: ${m}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MiB = 1024 * 1024;

const { work, htpasswd, ca, tls } = await stage({ alice: 'alice-pw', carol: 'carol-pw' });
const registry = await startRegistry(work, { storage: join(work, 'storage') });
log('pushing the payloads');
const big = await pushBigIndexes(registry.url, 'carol/big');
const blob = await putBlob(registry.url, 'public/big', Buffer.alloc(32 * MiB, 7));
const layer = randomBytes(MiB);
const layerDigest = await putBlob(registry.url, 'alice/app', layer);
const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
const configDigest = await putBlob(registry.url, 'alice/app', config);
await putManifest(registry.url, 'alice/app', '1', OCI_MANIFEST, {
  schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
  layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
});
const metricsPort = await freePort();
const gw: GatewayProcess = await startGateway(work, {
  upstream: registry.url, tls, auth: { mode: 'htpasswd', htpasswd }, metrics: { listen: `127.0.0.1:${metricsPort}` },
  access: [
    { account: 'alice', name: 'alice/**', actions: ['pull', 'push'] },
    { account: 'carol', name: 'carol/**', actions: ['pull', 'push'] },
    { account: '', name: 'public/**', actions: ['pull'] },
  ],
});
// The gateway's log, for a look afterwards (one JSON line per request: large).
const gatewayLog = join(work, 'gateway.log');
const dump = setInterval(() => writeFileSync(gatewayLog, gw.logs()), 5000);
log(`the gateway's log: ${gatewayLog}`);
void gw.exited().then((code) => {
  if (attacking) {
    log(`the gateway exited (${code}) during the soak; its last lines:\n${gw.logs().split('\n').slice(-30).join('\n')}`);
    process.exit(1);
  }
});
const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${gw.pid}/status`, 'utf8'))![1]) * 1024;
/** The kernel's count of connections dropped for a full listen queue (all sockets of this host: loopback included). */
function listenOverflows(): number {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((l) => l.startsWith('TcpExt:'));
  const [names, values] = [lines[0]!.split(/\s+/), lines[1]!.split(/\s+/)];
  return Number(values[names.indexOf('ListenOverflows')] ?? 0);
}
async function lag(): Promise<number | undefined> {
  const r = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((x) => x.text()).catch(() => '');
  const m = /^registry_gateway_nodejs_eventloop_lag_seconds (\S+)$/m.exec(r);
  return m ? Number(m[1]) : undefined;
}

// The honest client, in a process of its own (bench/soakHonest.ts).
type Pulls = { started: string; firstMs: number | undefined; slowest: unknown[]; pulls: number; failed: number; p50: number; p99: number; worst: number };
function honest(seconds: number): Promise<Pulls> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('soakHonest.ts', import.meta.url)),
      gw.url, join(work, 'certs', 'ca.crt'), String(seconds), layerDigest, String(layer.length)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as Pulls) : reject(new Error(`the honest client exited with ${code}`))));
  });
}

const counts: Record<string, Record<string, number>> = { ui: {}, readers: {}, trickles: {}, spray: {} };
const count = (who: string, what: string | number) => void (counts[who]![String(what)] = (counts[who]![String(what)] ?? 0) + 1);
let attacking = true;
let stop: () => void = () => {};
/** Resolves when the attacks end: nothing an attacker waits on outlives them. */
const stopped = new Promise<void>((resolve) => (stop = resolve));
const sockets = new Set<TLSSocket>();

function rawFrom(from: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ socket: netConnect({ host: '127.0.0.1', port: gw.port, localAddress: from }), servername: 'localhost', ca }, () => resolve(s));
    s.once('error', reject);
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
}
/** Holds one connection open until the gateway closes it, then opens another. */
async function keepOpening(who: string, open: () => Promise<TLSSocket>, answers: boolean): Promise<void> {
  while (attacking) {
    const s = await open().catch(() => undefined);
    if (!s) {
      await sleep(200);
      continue;
    }
    s.on('error', () => {});
    // The status line tells admitted (200/202 never comes for a trickle; the read is paused for a reader) from refused.
    const first = new Promise<string>((resolve) => {
      s.once('data', (d) => resolve(String(d).split(' ')[1] ?? '?'));
      s.once('close', () => resolve('closed'));
    });
    // A reader gets its status line whatever the load (200 admitted, 429 refused); an admitted trickle gets none until it ends.
    const ended = stopped.then(() => 'stopped');
    const status = await Promise.race([first, ended, ...(answers ? [] : [sleep(2000).then(() => 'held')])]);
    if (status === 'stopped') {
      s.destroy();
      break;
    }
    count(who, status);
    if (status === 'held' || status === '200') {
      s.pause();
      const cut = await Promise.race([new Promise<boolean>((r) => (s.destroyed ? r(true) : s.once('close', () => r(true)))), stopped.then(() => false)]);
      if (cut) count(who, 'cut');
      s.destroy();
    } else {
      s.destroy();
      await sleep(1000); // refused (429): a second before trying again
    }
  }
}
const pausedReader = (from: string) => keepOpening('readers', async () => {
  const s = await rawFrom(from);
  s.write(`GET /v2/public/big/blobs/${blob} HTTP/1.1\r\nHost: 127.0.0.1:${gw.port}\r\n\r\n`);
  return s;
}, true);
const trickle = (from: string) => keepOpening('trickles', async () => {
  const start = await request(`${gw.url}/v2/carol/up/blobs/uploads/`, { ca, method: 'POST', user: 'carol:carol-pw', localAddress: from });
  if (start.status !== 202) throw new Error(String(start.status));
  const location = new URL(start.headers.location!, gw.url);
  const s = await rawFrom(from);
  s.write(`PATCH ${location.pathname}${location.search} HTTP/1.1\r\nHost: 127.0.0.1:${gw.port}\r\n` +
    `Authorization: Basic ${Buffer.from('carol:carol-pw').toString('base64')}\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n`);
  const timer = setInterval(() => (s.destroyed ? clearInterval(timer) : s.write('1\r\nx\r\n')), 1000);
  s.once('close', () => clearInterval(timer));
  return s;
}, false);
async function uiReader(): Promise<void> {
  const origin = `https://127.0.0.1:${gw.port}`;
  const login = await request(`${gw.url}/ui/api/session`, {
    ca, method: 'POST', headers: { origin, 'content-type': 'application/json' }, body: JSON.stringify({ username: 'carol', password: 'carol-pw' }),
  });
  const cookie = login.headers['set-cookie']![0]!.split(';')[0]!;
  for (let i = 0; attacking; i++) {
    const path = i % 3 === 2
      ? `/ui/api/manifest?name=carol/big&ref=idx150&platform=${big.children[i % 150]!.digest}`
      : `/ui/api/manifest?name=carol/big&ref=idx${i % 2 ? 150 : 100}`;
    const r = await request(`${gw.url}${path}`, { ca, headers: { cookie } }).catch(() => undefined);
    count('ui', r?.status ?? 'error');
    counts.ui!.maxBytes = Math.max(counts.ui!.maxBytes ?? 0, r?.body.length ?? 0);
  }
}
async function sprayer(address: string): Promise<void> {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 4, ca, localAddress: address });
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (attacking) {
      const auth = `Basic ${Buffer.from(`nobody-${randomBytes(6).toString('hex')}:guess`).toString('base64')}`;
      const r = await request(`${gw.url}/v2/`, { ca, agent, headers: { authorization: auth } }).catch(() => undefined);
      count('spray', r?.status ?? 'error');
      if (r?.status === 429) await sleep(50);
    }
  }));
  agent.destroy();
}

log(`baseline: alice pulls alone for ${BASELINE_SECONDS} s`);
const baseline = await honest(BASELINE_SECONDS);
await sleep(2000);
const rssBefore = rss();
const overflowsBefore = listenOverflows();
log(`soak: all three attacks for ${SECONDS} s while alice pulls`);
const attackers = Promise.all([
  ...Array.from({ length: 4 }, () => uiReader()),
  ...['127.0.0.31', '127.0.0.32'].flatMap((a) => Array.from({ length: 64 }, () => pausedReader(a))),
  ...['127.0.0.41', '127.0.0.42'].flatMap((a) => Array.from({ length: 64 }, () => trickle(a))),
  ...Array.from({ length: 80 }, (_, i) => sprayer(`127.0.1.${i + 1}`)),
]);
let rssPeak = rssBefore;
const lags: number[] = [];
const sampler = setInterval(() => {
  rssPeak = Math.max(rssPeak, rss());
  void lag().then((l) => l !== undefined && lags.push(l));
}, 1000);
await sleep(3000); // the attacks in place before alice's measured pulls start
const during = await honest(SECONDS - 3);
attacking = false;
const overflows = listenOverflows() - overflowsBefore;
// What else the machine ran meanwhile: the figures mean little on a loaded host.
const loadAverage = loadavg().map((l) => +l.toFixed(2));
stop();
clearInterval(sampler);
sockets.forEach((s) => s.destroy());
// A request in flight may wait on a check or a pool slot: the attackers get a few seconds to notice, then are left.
await Promise.race([attackers, sleep(15_000)]);
sockets.forEach((s) => s.destroy());
await sleep(10_000);
const rssAfter = rss();
// alice's slowest requests as the gateway logged them (where the time went).
const aliceSlowest = gw.entries().filter((e) => e.user === 'alice' && e.msg === 'request')
  .sort((x, y) => Number(y.durationMs) - Number(x.durationMs)).slice(0, 5)
  .map((e) => ({ time: e.time, path: e.path, status: e.status, durationMs: e.durationMs }));
const cuts = gw.entries().filter((e) => typeof e.msg === 'string' && /stalled or trickling|stopped reading/.test(e.msg as string)).length;
await gw.stop();
clearInterval(dump);
writeFileSync(gatewayLog, gw.logs());
await registry.stop();

const sortedLags = lags.sort((a, b) => a - b);
const results = {
  date: new Date().toISOString(), seconds: SECONDS,
  alice: {
    alone: baseline, underAttack: during, slowestLogged: aliceSlowest,
  },
  rssMiB: { before: +(rssBefore / MiB).toFixed(1), peak: +(rssPeak / MiB).toFixed(1), after: +(rssAfter / MiB).toFixed(1) },
  eventLoopLagSeconds: { samples: sortedLags.length, p50: sortedLags[sortedLags.length >> 1] ?? null, max: sortedLags.at(-1) ?? null },
  attackers: { ...counts, cutByGateway: cuts },
  listenOverflowsDuringSoak: overflows,
  hostLoadAverage: loadAverage,
};
mkdirSync(new URL('results/', import.meta.url), { recursive: true });
writeFileSync(new URL('results/soak.json', import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
const ms = (v: number) => `${v.toFixed(0)} ms`;
process.stdout.write([
  `alice's pulls (manifest + 1 MiB layer) on her keep-alive connection: alone p50 ${ms(baseline.p50)}, p99 ${ms(baseline.p99)} ` +
  `(${baseline.pulls} pulls); under attack p50 ${ms(during.p50)}, p99 ${ms(during.p99)}, worst ${ms(during.worst)} ` +
  `(${during.pulls} pulls, ${during.failed} failed)`,
  `alice's first pull (a new connection): alone ${baseline.firstMs} ms, under attack ${during.firstMs} ms`,
  `alice's slowest pulls under attack: ${JSON.stringify(during.slowest)} (started ${during.started})`,
  `gateway RSS: before ${results.rssMiB.before} MiB, peak ${results.rssMiB.peak} MiB, after ${results.rssMiB.after} MiB`,
  `event-loop lag (scraped each second): median ${results.eventLoopLagSeconds.p50}, max ${results.eventLoopLagSeconds.max} s`,
  `attackers: ${JSON.stringify(results.attackers)}`,
  `connections dropped for a full listen queue (the host's, during the soak): ${overflows}; host load average ${loadAverage.join(' ')} ` +
  `on ${cpus().length} cores`,
  `alice's slowest requests (gateway log): ${JSON.stringify(aliceSlowest)}`,
  '',
].join('\n'));
