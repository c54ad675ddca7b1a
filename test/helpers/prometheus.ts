// A real Prometheus server (Debian's `prometheus`) scraping the given targets
// every second, with its HTTP API for the tests' queries.
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { onExit } from './cleanup.js';
import { freePort } from './registry.js';

export interface Sample {
  metric: Record<string, string>;
  /** Evaluation time (seconds since the epoch) and the value. */
  value: [number, string];
}

export interface Prometheus {
  url: string;
  /** An instant query's vector. */
  query(q: string): Promise<Sample[]>;
  /** Queries until `ok` holds for the result (scrapes come every second); returns that result. */
  until(q: string, ok: (r: Sample[]) => boolean, timeoutMs?: number): Promise<Sample[]>;
  log: () => string;
  stop(): Promise<void>;
}

function getJson(url: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode!, body: JSON.parse(text) });
        } catch {
          resolve({ status: res.statusCode!, body: text });
        }
      });
    }).on('error', reject);
  });
}

/** jobs: job name to scrape targets (host:port, path /metrics). */
export async function startPrometheus(workDir: string, jobs: Record<string, string[]>): Promise<Prometheus> {
  const dir = join(workDir, `prometheus-${Date.now()}`);
  await mkdir(join(dir, 'data'), { recursive: true });
  const config = {
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    scrape_configs: Object.entries(jobs).map(([job, targets]) => ({ job_name: job, static_configs: [{ targets }] })),
  };
  const configPath = join(dir, 'prometheus.yml');
  await writeFile(configPath, JSON.stringify(config));
  const port = await freePort();
  const child: ChildProcess = spawn('prometheus', [
    `--config.file=${configPath}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const forget = onExit(() => child.kill('SIGKILL'));
  void exited.then(forget);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prometheus exited: ${out}`);
    const ready = await getJson(`${url}/-/ready`).catch(() => undefined);
    if (ready?.status === 200) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`prometheus not ready after 30 s: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const query = async (q: string): Promise<Sample[]> => {
    const r = await getJson(`${url}/api/v1/query?query=${encodeURIComponent(q)}`);
    if (r.body?.status !== 'success') throw new Error(`query ${q} failed: ${JSON.stringify(r.body)}`);
    return r.body.data.result as Sample[];
  };
  return {
    url,
    query,
    async until(q, ok, timeoutMs = 20_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const r = await query(q);
        if (ok(r)) return r;
        if (Date.now() > end) throw new Error(`${q}: still ${JSON.stringify(r)} after ${timeoutMs} ms`);
        await new Promise((res) => setTimeout(res, 250));
      }
    },
    log: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
