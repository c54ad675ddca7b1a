// The instruments: wrk for request rates and latency, curl for transfers,
// /proc for memory.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';

function run(file: string, args: string[], timeoutMs = 600_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? 1 : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

const UNIT: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

export interface WrkResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

export async function wrk(url: string, opts: { connections: number; seconds: number; headers?: string[]; threads?: number }): Promise<WrkResult> {
  const args = ['-t', String(opts.threads ?? 2), '-c', String(opts.connections), '-d', `${opts.seconds}s`, '--latency', ...(opts.headers ?? []).flatMap((h) => ['-H', h]), url];
  const r = await run('wrk', args);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? NaN);
  const pct = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)$`, 'm').exec(r.stdout);
    return m ? Number(m[1]) * UNIT[m[2]!]! : NaN;
  };
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(r.stdout)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(r.stdout);
  const errors = non2xx + (sock ? sock.slice(1).reduce((n, x) => n + Number(x), 0) : 0);
  if (Number.isNaN(rps)) throw new Error(`wrk failed: ${r.stdout}${r.stderr}`);
  return { rps, p50Ms: pct('50'), p99Ms: pct('99'), errors };
}

/** One curl transfer; returns bytes per second and the response's Location. */
export async function transfer(args: string[]): Promise<{ rate: number; location?: string }> {
  const r = await run('curl', ['-sS', '-k', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{size_upload} %{time_total} %header{location}', ...args]);
  const [status, down, up, total, location] = r.stdout.trim().split(' ');
  if (!Number(status) || Number(status) >= 300) throw new Error(`curl ${args.join(' ')}: HTTP ${status} ${r.stderr}`);
  return { rate: Math.max(Number(down), Number(up)) / Number(total), ...(location ? { location } : {}) };
}

export const curl = async (args: string[]): Promise<number> => (await transfer(args)).rate;

/** Runs n transfers at once; aggregate bytes per second over the wall time. */
export async function parallel(n: number, bytesEach: number, one: () => Promise<number>): Promise<number> {
  const start = performance.now();
  await Promise.all(Array.from({ length: n }, one));
  return (n * bytesEach) / ((performance.now() - start) / 1000);
}

export async function memory(pid: number): Promise<{ rssKiB: number; peakKiB: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKiB: kib('VmRSS'), peakKiB: kib('VmHWM') };
}

/** Samples a process's resident memory (KiB) every 50 ms while `work` runs. */
export async function rssDuring<T>(
  pid: number, work: () => Promise<T>, read: () => Promise<number> = async () => (await memory(pid)).rssKiB,
): Promise<{ result: T; samples: number[] }> {
  const samples: number[] = [];
  let done = false;
  const sampler = (async () => {
    while (!done) {
      samples.push(await read());
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  try {
    return { result: await work(), samples };
  } finally {
    done = true;
    await sampler;
  }
}

/** The highest resident memory (KiB) while `work` runs. */
export const peakDuring = async (pid: number, work: () => Promise<unknown>): Promise<number> => Math.max(0, ...(await rssDuring(pid, work)).samples);

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Installs (as root, from Debian) the programs the benchmarks drive, when missing. */
export function ensureTools(
  need: Record<string, string> = { nginx: 'nginx', wrk: 'wrk', 'docker-registry': 'docker-registry', curl: 'curl', 'redis-server': 'redis-server' },
): void {
  const missing = Object.entries(need).filter(([cmd]) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0).map(([, pkg]) => pkg);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) throw new Error(`missing ${missing.join(' ')}: run 'sudo apt-get install -y ${missing.join(' ')}'`);
  process.stderr.write(`bench: installing ${missing.join(' ')}\n`);
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore' });
  execFileSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

/**
 * CPU time (seconds, user + system) of a process and its direct children
 * (serve --workers). Per byte or per request it moves far less than
 * throughput when something else runs on the machine: the figure to bisect on.
 */
export async function cpuSeconds(pid: number): Promise<number> {
  let total = 0;
  for (const { stat } of await tree(pid)) {
    // Fields after the command name (which may hold spaces): utime and stime are the 14th and 15th.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    total += Number(f[11]) + Number(f[12]);
  }
  // USER_HZ is 100 on Linux (getconf CLK_TCK).
  return total / 100;
}

/** A process and its direct children: their /proc stat lines and pids. */
async function tree(pid: number): Promise<{ pid: number; stat: string }[]> {
  const { readdir } = await import('node:fs/promises');
  const found: { pid: number; stat: string }[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (stat && (Number(entry) === pid || ppid === pid)) found.push({ pid: Number(entry), stat });
  }
  return found;
}

/** The highest resident memory (KiB) of a process and its workers together while `work` runs. */
export async function peakTreeDuring(pid: number, work: () => Promise<unknown>): Promise<number> {
  const pids = (await tree(pid)).map((p) => p.pid);
  const total = async () => (await Promise.all(pids.map((p) => memory(p).then((m) => m.rssKiB, () => 0)))).reduce((a, b) => a + b, 0);
  return Math.max(0, ...(await rssDuring(pid, work, total)).samples);
}
