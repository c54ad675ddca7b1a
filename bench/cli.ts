// npm run bench -- --only cli [--quick] [--runs N] [--cli PATH]: how soon the
// command line answers, against `node -e 0` (the floor: Node.js starting and
// stopping) measured in the same run. A benchmark, not a timed test: it
// prints medians and, on a full run, writes them into bench/README.md.
//
// Each round is one hyperfine call (Debian's hyperfine, -N: no shell) that
// runs every command once, the order rotated by one each round, so the runs
// of a command and of the floor alternate and drift on a shared machine hits
// them alike. hyperfine gives wall and CPU (user + system) per run; GNU time
// wrapped around every command (the floor included) gives its peak resident
// memory. `users add` writes a new file each round (the harness removes it)
// at bcrypt cost 4; the time of that one hash, measured here with the same
// library, is taken off its wall time, as the target says.
//
// --cli PATH measures another build (e.g. a checkout of an older commit, for
// the "before" row); --runs N rounds (default 10, --quick 3).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import bcrypt from 'bcryptjs';
import { ensureTools, median } from './measure.js';

const argv = process.argv.slice(2);
const arg = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const quick = argv.includes('--quick');
const RUNS = Number(arg('--runs')) || (quick ? 3 : 10);
const ROOT = new URL('..', import.meta.url).pathname;
const CLI = resolve(arg('--cli') ?? join(ROOT, 'dist/cli/main.js'));
const log = (m: string) => process.stderr.write(`bench cli: ${m}\n`);

interface Target {
  name: string;
  args: string[];
  /** Seconds over the floor's median wall time this command may take. */
  budget: number;
}

interface Row extends Target {
  wall: number;
  cpu: number;
  peakMiB: number;
  /** Median wall minus the floor's, less the bcrypt hash for users add. */
  overFloor: number;
  met: boolean | null;
  samples: { wall: number; cpu: number; peakKiB: number }[];
}

function hyperfine(commands: { name: string; argv: string[] }[], json: string): { wall: number; cpu: number }[] {
  execFileSync('hyperfine', ['-N', '--runs', '1', '--warmup', '0', '--style', 'none', '--export-json', json,
    ...commands.flatMap((c) => ['-n', c.name, c.argv.join(' ')])], { stdio: ['ignore', 'ignore', 'inherit'] });
  const results = (JSON.parse(readFileSync(json, 'utf8')) as { results: { command: string; times: number[]; user: number; system: number }[] })
    .results;
  return commands.map((c) => {
    const r = results.find((x) => x.command === c.name)!;
    return { wall: r.times[0]!, cpu: r.user + r.system };
  });
}

function main(): void {
  ensureTools({ hyperfine: 'hyperfine', '/usr/bin/time': 'time' });
  if (!existsSync(CLI)) throw new Error(`no ${CLI}: run npm run build (or give --cli PATH)`);
  const node = process.execPath;
  const stage = mkdtempSync(join(tmpdir(), 'gw-bench-cli-'));
  try {
    execFileSync(node, [CLI, 'certs', 'init', '--dir', join(stage, 'certs')], { stdio: 'ignore' });
    execFileSync(node, [CLI, 'users', 'add', 'alice', '--password', 'bench-password', '--cost', '4', '--file', join(stage, 'htpasswd')],
      { stdio: 'ignore' });
    const help = execFileSync(node, [CLI, '--help'], { encoding: 'utf8' });
    const commands = (help.split('\nCommands:\n')[1] ?? '').split('\n').map((l) => /^ {2}([a-z][a-z-]*)/.exec(l)?.[1])
      .filter((n): n is string => Boolean(n) && n !== 'help');
    const targets: Target[] = [
      { name: 'node -e 0 (the floor)', args: [], budget: 0 },
      { name: '--help', args: ['--help'], budget: 0.1 },
      { name: '--version', args: ['--version'], budget: 0.1 },
      ...commands.map((c) => ({ name: `${c} --help`, args: [c, '--help'], budget: 0.1 })),
      { name: 'certs show', args: ['certs', 'show', '--dir', join(stage, 'certs')], budget: 0.2 },
      { name: 'users list', args: ['users', 'list', '--file', join(stage, 'htpasswd')], budget: 0.2 },
      { name: 'users add (cost 4)', args: ['users', 'add', 'bob', '--password', 'bench-password', '--cost', '4', '--file',
        join(stage, 'added')], budget: 0.2 },
    ];
    const memFile = (i: number) => join(stage, `mem-${i}`);
    const argvOf = (t: Target, i: number) => ['/usr/bin/time', '-f', '%M', '-a', '-o', memFile(i), node,
      ...(t.args.length ? [CLI, ...t.args] : ['-e', '0'])];
    const samples = targets.map(() => [] as { wall: number; cpu: number; peakKiB: number }[]);
    const startLoad = loadavg()[0]!.toFixed(1);
    for (let round = 0; round < RUNS; round++) {
      rmSync(join(stage, 'added'), { force: true });
      const order = targets.map((_, i) => (i + round) % targets.length);
      const times = hyperfine(order.map((i) => ({ name: `t${i}`, argv: argvOf(targets[i]!, i) })), join(stage, 'round.json'));
      order.forEach((i, k) => samples[i]!.push({ ...times[k]!, peakKiB: 0 }));
      log(`round ${round + 1} of ${RUNS}`);
    }
    targets.forEach((_, i) => {
      const peaks = readFileSync(memFile(i), 'utf8').trim().split('\n').map(Number);
      samples[i]!.forEach((s, k) => (s.peakKiB = peaks[k] ?? 0));
    });
    // The one bcrypt hash of users add, at the cost it ran with, in this process.
    const hashes: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      bcrypt.hashSync('bench-password', 4);
      hashes.push((performance.now() - t0) / 1000);
    }
    const hash = median(hashes);
    const floor = median(samples[0]!.map((s) => s.wall));
    const rows: Row[] = targets.map((t, i) => {
      const wall = median(samples[i]!.map((s) => s.wall));
      const overFloor = wall - floor - (t.name.startsWith('users add') ? hash : 0);
      return {
        ...t, wall, cpu: median(samples[i]!.map((s) => s.cpu)), peakMiB: median(samples[i]!.map((s) => s.peakKiB)) / 1024,
        overFloor, met: i === 0 ? null : overFloor <= t.budget, samples: samples[i]!,
      };
    });
    const version = execFileSync(node, [CLI, '--version'], { encoding: 'utf8' }).trim();
    const meta = `Run ${new Date().toISOString()} on ${cpus().length} cores (${cpus()[0]?.model ?? ''}); Node ${process.version}, ` +
      `gateway ${version} (${CLI === join(ROOT, 'dist/cli/main.js') ? 'this checkout' : CLI}), ` +
      `${execFileSync('hyperfine', ['--version'], { encoding: 'utf8' }).trim()}. Medians of ${RUNS} rounds, the commands alternating. ` +
      `users add: bcrypt cost 4, its hash (${(hash * 1000).toFixed(1)} ms) taken off. Load average at the start ${startLoad}, ` +
      `at the end ${loadavg()[0]!.toFixed(1)}.`;
    const table = [
      '| command | wall | CPU | peak memory | over the floor | goal | met |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      ...rows.map((r) => `| \`${r.name}\` | ${r.wall.toFixed(3)} s | ${r.cpu.toFixed(3)} s | ${r.peakMiB.toFixed(1)} MiB | ` +
        (r.met === null ? '(the floor) | | |' : `${r.overFloor >= 0 ? '+' : ''}${r.overFloor.toFixed(3)} s | <= ${r.budget} s | ` +
          `${r.met ? 'yes' : '**no**'} |`)),
    ].join('\n');
    process.stdout.write(`${meta}\n\n${table}\n`);
    if (quick || arg('--cli') !== undefined) {
      log('--quick or --cli: bench/README.md and bench/results/cli.json left as they are');
      return;
    }
    writeFileSync(join(ROOT, 'bench', 'results', 'cli.json'), JSON.stringify({
      date: new Date().toISOString(), runs: RUNS, cores: cpus().length, cpu: cpus()[0]?.model ?? '', node: process.version, version,
      bcryptCost4Seconds: hash, loadAverage: [startLoad, loadavg()[0]!.toFixed(1)], rows,
    }, null, 2) + '\n');
    const path = join(ROOT, 'bench', 'README.md');
    const text = readFileSync(path, 'utf8');
    const start = text.indexOf('<!-- cli:start -->');
    const end = text.indexOf('<!-- cli:end -->');
    if (start < 0 || end < 0) throw new Error('bench/README.md has no <!-- cli:start --> ... <!-- cli:end --> markers');
    writeFileSync(path, `${text.slice(0, start)}<!-- cli:start -->\n${meta}\n\n${table}\n${text.slice(end)}`);
    log('wrote bench/results/cli.json and the table in bench/README.md');
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

main();
