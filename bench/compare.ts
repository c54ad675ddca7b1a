// npm run bench -- --compare REV[,REV...] [--rounds N] [--layer MiB] [--seconds S] [--workers N]
// A REV may also be the directory of a build made before (as a bisect has), or
// `.` for the working tree; `REV*N` runs that build with N processes
// (--workers N), so `--compare .*2` asks whether two processes beat one.
//
// Whether a change to the request or stream path cost anything: each REV is
// built in a worktree of its own, and its gateway runs beside the working
// tree's on one stage (one registry, one layer, one nginx), round after round,
// in an order that rotates, so that whatever else the machine does hits every
// build alike. Each target is a ratio of medians, printed with its spread
// (the lowest and highest of the per-round ratios): a spread that straddles
// 1.0 is no evidence either way. The gateways' own CPU time per GiB and per
// 1,000 requests is printed too: it moves far less than throughput on a
// busy machine, so it is what a bisect reads first.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSeconds, curl, ensureTools, median, parallel, peakTreeDuring, wrk } from './measure.js';
import { parseBuildSpec, ratioTable, type Samples } from './ratios.js';
import { seedStage, tokenFor, uploads } from './stage.js';
import { startDirect, startGatewaySystem, startNginx, type Stage, type System } from './systems.js';

const argv = process.argv.slice(2);
const option = (name: string, fallback: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] ?? fallback : fallback);
const number = (name: string, fallback: number, min: number) => {
  const raw = option(name, String(fallback));
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`bench: ${name} ${raw}: expected a whole number of at least ${min}\n`);
    process.exit(2);
  }
  return n;
};

const REVS = option('--compare', '').split(',').filter(Boolean);
// Three rounds at least: with two, a median is the mean of the only two, and one bad round moves it.
const ROUNDS = number('--rounds', 3, 3);
const LAYER_MIB = number('--layer', 1024, 16);
const SECONDS = number('--seconds', 5, 2);
const WORKERS = number('--workers', 1, 1);
const ROOT = new URL('..', import.meta.url).pathname;
const log = (m: string) => process.stderr.write(`bench: ${m}\n`);
const GiB = 1024 ** 3;

if (REVS.length === 0) {
  process.stderr.write('bench: --compare needs a revision to compare the working tree with: --compare 6aecdd5 (or several: A,B)\n');
  process.exit(2);
}

interface Build { label: string; cli: string; workers: number }

const WORKING_TREE = join(ROOT, 'dist/cli/main.js');

/** REV's gateway, built once in a worktree under the system's temp directory and reused by later runs. */
function build(spec: string): Build {
  const parsed = parseBuildSpec(spec, WORKERS);
  if ('error' in parsed) {
    process.stderr.write(`bench: ${parsed.error}\n`);
    process.exit(2);
  }
  const { rev, workers } = parsed;
  const label = (name: string) => (workers === WORKERS ? name : `${name} x${workers}`);
  if (rev === '.') return { label: label('working tree'), cli: WORKING_TREE, workers };
  // A directory that holds a build already (a bisect's): used as it is.
  if (existsSync(join(rev, 'dist/cli/main.js'))) {
    return { label: label(rev.replace(/\/+$/, '').split('/').pop()!), cli: join(rev, 'dist/cli/main.js'), workers };
  }
  let sha: string;
  try {
    sha = execFileSync('git', ['rev-parse', '--verify', `${rev}^{commit}`], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    process.stderr.write(`bench: --compare ${rev}: not a commit of this repository (git rev-parse found nothing)\n`);
    process.exit(2);
  }
  const dir = join(tmpdir(), 'registry-gateway-builds', sha);
  const cli = join(dir, 'dist/cli/main.js');
  if (!existsSync(cli)) {
    log(`building ${rev} (${sha.slice(0, 12)}) in ${dir}`);
    rmSync(dir, { recursive: true, force: true });
    execFileSync('git', ['worktree', 'prune'], { cwd: ROOT });
    execFileSync('git', ['worktree', 'add', '--force', '--detach', dir, sha], { cwd: ROOT, stdio: 'ignore' });
    for (const step of [['ci', '--no-audit', '--no-fund'], ['run', 'build']]) {
      execFileSync('npm', step, { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
    }
  }
  return { label: label(rev), cli, workers };
}

interface Gateway { build: Build; basic: System & { pid?: number }; token: System }

async function main(): Promise<void> {
  ensureTools();
  const builds: Build[] = [...REVS.map(build), { label: 'working tree', cli: WORKING_TREE, workers: WORKERS }];
  const work = mkdtempSync(join(tmpdir(), 'gw-compare-'));
  const systems: System[] = [];
  const samples: Samples = new Map();
  const record = (target: string, system: string, value: number) => {
    const t = samples.get(target) ?? samples.set(target, new Map()).get(target)!;
    (t.get(system) ?? t.set(system, []).get(system)!).push(value);
  };
  try {
    const stage: Stage = {
      work, certs: join(work, 'certs'), htpasswd: join(work, 'htpasswd'), user: 'bench', password: 'bench-password', storage: join(work, 'storage'),
    };
    const { system: direct } = await startDirect(stage);
    systems.push(direct);
    const layerBytes = LAYER_MIB * 1024 * 1024;
    const { digest, blobFile, ca } = await seedStage(stage, direct, builds.at(-1)!.cli, layerBytes, log);
    const nginx = await startNginx(stage, direct.url, 'nginx', WORKERS);
    systems.push(nginx);
    const gateways: Gateway[] = [];
    for (const b of builds) {
      const basic = await startGatewaySystem(stage, direct.url, 'htpasswd', b.workers, `${b.label} (Basic)`, undefined, b.cli);
      const token = await startGatewaySystem(stage, direct.url, 'token', b.workers, `${b.label} (token)`, undefined, b.cli);
      systems.push(basic, token);
      for (const s of [basic, token]) if (b.workers > 1) await s.gw.waitFor((e) => e.msg === 'all workers listening', 0, 30_000);
      token.auth = await tokenFor(token, ca);
      gateways.push({ build: b, basic, token });
    }
    const manifestHeaders = (s: System) => ['Accept: application/vnd.oci.image.manifest.v1+json', ...(s.auth ? [`Authorization: ${s.auth}`] : [])];
    const manifest = (s: System) => wrk(`${s.url}/v2/bench/app/manifests/v1`, { connections: 16, seconds: SECONDS, headers: manifestHeaders(s) });
    const pull = (s: System) => () => curl([...(s.auth ? ['-H', `Authorization: ${s.auth}`] : []), `${s.url}/v2/bench/app/blobs/${digest}`]);

    /** Every target for one system; `pid` and `token` for gateways. */
    const measure = async (label: string, s: System, pid?: number, token?: System) => {
      // nginx checks bcrypt on every request: its manifest rate is no anchor (direct is), and the
      // requests wrk leaves in flight would hold its worker into the next measurement.
      if (s !== nginx) {
        log(`${label}: manifest GETs`);
        const c0 = pid ? await cpuSeconds(pid) : 0;
        const m = await manifest(s);
        if (pid) record('gateway CPU per 1,000 manifest GETs', label, ((await cpuSeconds(pid)) - c0) / (m.rps * SECONDS / 1000));
        record('manifest GET, Basic', label, m.rps);
        record('manifest GET, token', label, token ? (await manifest(token)).rps : m.rps);
        // What wrk left in flight is answered before the transfers start.
        await new Promise((r) => setTimeout(r, 1000));
      }
      log(`${label}: blob GETs in 1, 3 and 8 streams`);
      const c1 = pid ? await cpuSeconds(pid) : 0;
      record('blob GET, 1 stream', label, await pull(s)());
      record('blob GET, 3 streams', label, await parallel(3, layerBytes, pull(s)));
      let eight = 0;
      const peak = await peakTreeDuring(pid ?? process.pid, async () => (eight = await parallel(8, layerBytes, pull(s))));
      record('blob GET, 8 streams', label, eight);
      if (pid) {
        record('gateway CPU per GiB pulled', label, ((await cpuSeconds(pid)) - c1) / (12 * layerBytes / GiB));
        record('peak RSS, 8 parallel GETs', label, peak / 1024);
      }
      log(`${label}: uploads`);
      const { put, patch } = await uploads(s, 'bench/up', { file: blobFile, digest, bytes: layerBytes }, ca);
      record('upload, monolithic PUT', label, put);
      record('upload, chunked PATCH', label, patch);
      if (s !== direct) {
        log(`${label}: new TLS connections`);
        record('new TLS connections', label, (await wrk(`${s.url}/trust/ca.crt`, { connections: 16, seconds: SECONDS, headers: ['Connection: close'] })).rps);
      }
    };
    const all: { label: string; run: () => Promise<void> }[] = [
      { label: 'direct', run: () => measure('direct', direct) },
      { label: 'nginx', run: () => measure('nginx', nginx) },
      ...gateways.map((g) => ({ label: g.build.label, run: () => measure(g.build.label, g.basic, g.basic.pid, g.token) })),
    ];
    for (let round = 0; round < ROUNDS; round++) {
      log(`round ${round + 1} of ${ROUNDS}`);
      for (let i = 0; i < all.length; i++) await all[(i + round) % all.length]!.run();
    }
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    process.stdout.write(`Rounds: ${ROUNDS}, layer ${LAYER_MIB} MiB, ${SECONDS} s windows, ${WORKERS} gateway process(es) (xN: N) `
      + `and nginx worker(s); ${cpus().length} cores, load average at the end ${load}; Node ${process.version}.\n\n`);
    process.stdout.write(ratioTable(samples, builds.map((b) => b.label)));
  } finally {
    for (const s of systems.reverse()) await s.stop().catch(() => {});
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});
