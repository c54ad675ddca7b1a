// npm run bench [-- --quick]: the gateway against nginx's auth_basic recipe,
// distribution's own TLS + htpasswd, and the upstream reached directly, in
// one run on one machine. Figures are medians of repeated runs, alternating
// the systems so that drift hits all alike; targets are ratios.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { curl, ensureTools, median, memory, parallel, peakDuring, rssDuring, wrk } from './measure.js';
import { startDirect, startDistribution, startGatewaySystem, startNginx, type Stage, type System } from './systems.js';
import { report, rows, type Results } from './report.js';
import { seedStage, tokenFor, uploads } from './stage.js';
import { startRedis, type RedisServer } from '../test/helpers/redis.js';
import { opensslSign } from '../test/helpers/openssl.js';

const quick = process.argv.includes('--quick');
// --only redis: just the cost of shared counters (manifest GETs with Redis on and off), 3 repetitions; writes no results.
const ONLY = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
if (ONLY !== undefined && ONLY !== 'redis') {
  process.stderr.write(`bench: --only ${ONLY}: expected --only redis (or --only ui, --only cli or --only soak, which bench/run.sh runs as bench/ui.ts, bench/cli.ts and bench/soak.ts)\n`);
  process.exit(2);
}
// --workers N: the gateway with N processes (serve --workers), for scaling.
const WORKERS = Number(process.argv[process.argv.indexOf('--workers') + 1] ?? 1) || 1;
const ROOT = new URL('..', import.meta.url).pathname;
const CLI = join(ROOT, 'dist/cli/main.js');
// --only redis moves no layers: a small one is enough for its manifest.
const BLOB = quick || ONLY ? 64 * 1024 * 1024 : 1024 * 1024 * 1024;
const REPS = quick && !ONLY ? 1 : 3;
const SECONDS = quick ? 3 : 10;
const log = (m: string) => process.stderr.write(`bench: ${m}\n`);

let ca = '';

async function main(): Promise<void> {
  ensureTools();
  if (!existsSync(CLI)) execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  const work = mkdtempSync(join(tmpdir(), 'gw-bench-'));
  const systems: System[] = [];
  let redis: RedisServer | undefined;
  let failed = true;
  try {
    const stage: Stage = { work, certs: join(work, 'certs'), htpasswd: join(work, 'htpasswd'), user: 'bench', password: 'bench-password', storage: join(work, 'storage') };
    const { system: direct } = await startDirect(stage);
    systems.push(direct);
    const seeded = await seedStage(stage, direct, CLI, BLOB, log);
    ca = seeded.ca;
    const { digest, blobFile } = seeded;
    const basic = await startGatewaySystem(stage, direct.url, 'htpasswd', WORKERS);
    const token = await startGatewaySystem(stage, direct.url, 'token', WORKERS);
    // The same two with failed-login counters shared through a local redis-server.
    redis = await startRedis(work);
    const basicRedis = await startGatewaySystem(stage, direct.url, 'htpasswd', WORKERS, undefined, redis.url);
    const tokenRedis = await startGatewaySystem(stage, direct.url, 'token', WORKERS, undefined, redis.url);
    for (const s of [basic, token, basicRedis, tokenRedis]) if (WORKERS > 1) await s.gw.waitFor((e) => e.msg === 'all workers listening');
    systems.push(basic, token, basicRedis, tokenRedis);
    const nginx = ONLY ? undefined : await startNginx(stage, direct.url, 'nginx', WORKERS);
    const distribution = ONLY ? undefined : await startDistribution(stage);
    if (nginx && distribution) systems.push(nginx, distribution);
    for (const t of [token, tokenRedis]) t.auth = await tokenFor(t, ca);

    const order = (list: System[], rep: number) => list.map((_, i) => list[(i + rep) % list.length]!);
    const results: Results = { date: new Date().toISOString(), quick, workers: WORKERS, cores: cpus().length, cpu: cpus()[0]?.model ?? '', versions: versions(), blobMiB: BLOB / 1024 / 1024, seconds: SECONDS, reps: REPS, scenarios: {} };
    const record = (scenario: string, system: string, value: number) => {
      const s = (results.scenarios[scenario] ??= {});
      (s[system] ??= []).push(value);
    };
    const manifestUrl = (s: System) => `${s.url}/v2/bench/app/manifests/v1`;
    const accept = 'Accept: application/vnd.oci.image.manifest.v1+json';
    const headersOf = (s: System) => [accept, ...(s.auth ? [`Authorization: ${s.auth}`] : [])];

    const gwMemIdle = await memory(basic.pid!);
    for (let rep = 0; rep < REPS; rep++) {
      for (const s of order(nginx && distribution ? [direct, basic, basicRedis, token, tokenRedis, nginx, distribution] : [direct, basic, basicRedis, token, tokenRedis], rep)) {
        log(`manifest GET, 16 connections: ${s.name}`);
        const r = await wrk(manifestUrl(s), { connections: 16, seconds: SECONDS, headers: headersOf(s) });
        if (r.errors > 0) log(`  ${s.name}: ${r.errors} errors`);
        record('manifestGet', s.name, r.rps);
        // Target 7's references: the same requests without the flood, and
        // the upstream's own tail latency under this load.
        record('manifestP99Ms', s.name, r.p99Ms);
      }
    }
    if (!nginx || !distribution) {
      // --only redis: the rows of target 8 and the rates they compare; nothing written.
      for (const x of rows(results).filter((r) => r.target.startsWith('8.'))) process.stdout.write(`${x.target}: ${x.measured}, ratio ${x.ratio.toFixed(2)} (goal >= ${x.goal}, ${x.pass ? 'met' : 'not met'})\n`);
      process.stdout.write(`${JSON.stringify(results.scenarios.manifestGet)}\n`);
      failed = false;
      return;
    }
    // Target 5, growth: the gateway's resident memory under the same load
    // at the start and after 100,000 more requests, under continuous load.
    // Each figure is the median of samples over a 10 s window: one reading
    // swings by 10 MiB or more with V8's young generation, and a gateway left
    // idle (as between the runs above) shrinks its heap and grows it back.
    const window = async () => {
      const { result, samples } = await rssDuring(basic.pid!, () => wrk(manifestUrl(basic), { connections: 16, seconds: 10, headers: headersOf(basic) }));
      return { rps: result.rps, rssKiB: median(samples) };
    };
    log('memory growth: warming up, then 100,000 requests between two measured windows');
    await wrk(manifestUrl(basic), { connections: 16, seconds: 20, headers: headersOf(basic) });
    const warm = await window();
    const target = quick ? 10_000 : 100_000;
    const rate = warm.rps;
    let requestsServed = 0;
    while (requestsServed < target) {
      const seconds = Math.min(60, Math.max(5, Math.ceil((target - requestsServed) / Math.max(1, rate))));
      const r = await wrk(manifestUrl(basic), { connections: 16, seconds, headers: headersOf(basic) });
      requestsServed += r.rps * seconds;
    }
    const later = await window();
    requestsServed += later.rps * 10;

    const blobUrl = (s: System) => `${s.url}/v2/bench/app/blobs/${digest}`;
    const get = (s: System) => () => curl([...(s.auth ? ['-H', `Authorization: ${s.auth}`] : []), blobUrl(s)]);
    let peakKiB = 0;
    for (let rep = 0; rep < REPS; rep++) {
      for (const s of order([direct, basic, nginx, distribution], rep)) {
        log(`blob GET, 1, 3 and 8 streams: ${s.name}`);
        record('blobGet1', s.name, await get(s)());
        // docker pulls 3 layers at a time.
        record('blobGet3', s.name, await parallel(3, BLOB, get(s)));
        const eight = () => parallel(8, BLOB, get(s));
        record('blobGet8', s.name, s === basic ? await (async () => {
          let mbps = 0;
          peakKiB = Math.max(peakKiB, await peakDuring(basic.pid!, async () => (mbps = await eight())));
          return mbps;
        })() : await eight());
      }
    }

    for (let rep = 0; rep < REPS; rep++) {
      for (const s of order([direct, basic, nginx, distribution], rep)) {
        log(`blob upload, monolithic PUT and chunked PATCH: ${s.name}`);
        const { put, patch } = await uploads(s, 'bench/up', { file: blobFile, digest, bytes: BLOB }, ca);
        record('uploadPut', s.name, put);
        record('uploadPatch', s.name, patch);
      }
    }

    for (let rep = 0; rep < REPS; rep++) {
      for (const s of order([basic, nginx], rep)) {
        log(`new TLS connections per second: ${s.name}`);
        const r = await wrk(`${s.url}/trust/ca.crt`, { connections: 16, seconds: SECONDS, headers: ['Connection: close'] });
        record('tlsHandshakes', s.name, r.rps);
      }
    }

    // Target 6 asks whether the key type decides it: the same handshakes with
    // an ECDSA P-256 server key (signed by the same CA) on both sides.
    const ecCerts = join(work, 'certs-ecdsa');
    mkdirSync(ecCerts);
    const ec = await opensslSign(stage.certs, work, 'server-ecdsa', 'DNS:localhost,IP:127.0.0.1', 'ecdsa');
    copyFileSync(ec.cert, join(ecCerts, 'server.crt'));
    copyFileSync(ec.key, join(ecCerts, 'server.key'));
    copyFileSync(join(stage.certs, 'ca.crt'), join(ecCerts, 'ca.crt'));
    const ecStage = { ...stage, certs: ecCerts };
    const gatewayEc = await startGatewaySystem(ecStage, direct.url, 'htpasswd', WORKERS, 'gateway-ecdsa');
    if (WORKERS > 1) await gatewayEc.gw.waitFor((e) => e.msg === 'all workers listening');
    const nginxEc = await startNginx(ecStage, direct.url, 'nginx-ecdsa', WORKERS);
    systems.push(gatewayEc, nginxEc); // stopped below; stopping twice is harmless
    for (let rep = 0; rep < REPS; rep++) {
      for (const s of order([gatewayEc, nginxEc], rep)) {
        log(`new TLS connections per second, ECDSA P-256: ${s.name}`);
        const r = await wrk(`${s.url}/trust/ca.crt`, { connections: 16, seconds: SECONDS, headers: ['Connection: close'] });
        record('tlsHandshakes', s.name, r.rps);
      }
    }
    await gatewayEc.stop();
    await nginxEc.stop();

    log('latency of authenticated requests under a wrong-password flood');
    let flooding = true;
    const flood = (async () => {
      let n = 0;
      while (flooding) {
        // From another address, as the target says (the per-address throttle's case).
        const req = https.request(`${basic.url}/v2/`, { method: 'GET', ca, localAddress: '127.0.0.2', agent: false, headers: { authorization: `Basic ${Buffer.from(`${stage.user}:wrong-${n}`).toString('base64')}` } }, (res) => res.resume());
        req.on('error', () => {});
        req.end();
        n++;
        await new Promise((r) => setTimeout(r, 50)); // 20 per second
      }
    })();
    for (let rep = 0; rep < REPS; rep++) {
      const r = await wrk(manifestUrl(basic), { connections: 16, seconds: SECONDS, headers: headersOf(basic) });
      record('floodP99Ms', basic.name, r.p99Ms);
      // Every one must succeed: a lockout answering 429 fast would look like low latency.
      record('floodNon2xx', basic.name, r.errors);
      if (r.errors > 0) log(`  ${r.errors} authenticated requests failed during the flood`);
    }
    flooding = false;
    await flood;

    results.memory = { idleMiB: gwMemIdle.rssKiB / 1024, peakMiBDuring8x: peakKiB / 1024, rssBeforeMiB: warm.rssKiB / 1024, rssAfterMiB: later.rssKiB / 1024, requestsBetween: Math.round(requestsServed) };
    process.stdout.write(report(results, join(ROOT, 'bench')));
    failed = false;
  } finally {
    for (const s of systems.reverse()) await s.stop().catch(() => {});
    await redis?.stop();
    // Kept after a failure for its logs (nginx-*/logs), unless asked not to.
    if (failed && !process.env.BENCH_CLEAN) log(`kept ${work} for its logs; remove it when done`);
    else rmSync(work, { recursive: true, force: true });
  }
}

function versions(): Record<string, string> {
  const v = (cmd: string, args: string[], re: RegExp) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    return re.exec(`${r.stdout}${r.stderr}`)?.[1] ?? 'unknown';
  };
  return {
    node: process.version,
    nginx: v('nginx', ['-v'], /nginx\/(\S+)/),
    distribution: v('docker-registry', ['--version'], /distribution (\S+)/),
    wrk: v('wrk', ['-v'], /wrk (\S+)/),
    openssl: v('openssl', ['version'], /OpenSSL (\S+)/),
  };
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
