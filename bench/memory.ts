// npm run bench:memory [-- --snapshots]: does the gateway's memory grow with
// the requests it serves? Drives authenticated manifest GETs (wrk, 16
// connections) through a gateway in front of a real registry, and after each
// phase prints the resident memory; with --snapshots it also writes a V8 heap
// snapshot (--heapsnapshot-signal) and prints the live JS heap and the
// object kinds that changed most since the first one. Snapshots inflate
// the process's resident memory for a while, so the two are separate runs.
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, freePort } from '../test/helpers/registry.js';
import { ensureTools, median, memory, rssDuring, wrk } from './measure.js';

const ROOT = new URL('..', import.meta.url).pathname;
const CLI = join(ROOT, 'dist/cli/main.js');
const snapshots = process.argv.includes('--snapshots');
// Requests per phase: a warm-up, then up to about 300,000 in all.
const PHASES = [10_000, 40_000, 50_000, 100_000, 100_000];

/** Live bytes by object kind in a heap snapshot (what survives a full GC). */
function heapByKind(path: string): { total: number; kinds: Map<string, number> } {
  const snap = JSON.parse(readFileSync(path, 'utf8')) as { snapshot: { meta: { node_fields: string[]; node_types: [string[]] } }; nodes: number[]; strings: string[] };
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const [iType, iName, iSize] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [number, number, number];
  const kinds = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += fields.length) {
    const type = types[snap.nodes[i + iType]!]!;
    const kind = type === 'object' || type === 'native' ? `${type}:${snap.strings[snap.nodes[i + iName]!]!.slice(0, 50)}` : type;
    kinds.set(kind, (kinds.get(kind) ?? 0) + snap.nodes[i + iSize]!);
    total += snap.nodes[i + iSize]!;
  }
  return { total, kinds };
}

async function seed(registryUrl: string): Promise<void> {
  const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
  const digest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
  const upload = await fetch(`${registryUrl}/v2/bench/app/blobs/uploads/`, { method: 'POST' });
  const put = new URL(upload.headers.get('location')!, registryUrl);
  put.searchParams.set('digest', digest);
  await fetch(put, { method: 'PUT', body: new Uint8Array(config), headers: { 'content-type': 'application/octet-stream' } });
  const manifest = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest, size: config.length }, layers: [] };
  const r = await fetch(`${registryUrl}/v2/bench/app/manifests/v1`, { method: 'PUT', body: JSON.stringify(manifest), headers: { 'content-type': manifest.mediaType } });
  if (r.status !== 201) throw new Error(`manifest push: ${r.status}`);
}

async function main(): Promise<void> {
  ensureTools();
  const work = mkdtempSync(join(tmpdir(), 'gw-memory-'));
  const cli = (args: string[], input?: string) => execFileSync(process.execPath, [CLI, ...args], { input, stdio: ['pipe', 'ignore', 'inherit'] });
  cli(['certs', 'init', '--dir', join(work, 'certs'), '--host', '127.0.0.1']);
  cli(['users', 'add', 'bench', '--password-stdin', '--file', join(work, 'htpasswd'), '--cost', '10'], 'bench-password');
  const registry = await startRegistry(work, { storage: join(work, 'storage') });
  const port = await freePort();
  const config = join(work, 'gateway.yaml');
  writeFileSync(config, JSON.stringify({ listen: `127.0.0.1:${port}`, upstream: registry.url, tls: { cert: join(work, 'certs/server.crt'), key: join(work, 'certs/server.key') }, auth: { mode: 'htpasswd', htpasswd: join(work, 'htpasswd') } }));
  const gw = spawn(process.execPath, [...(snapshots ? ['--heapsnapshot-signal=SIGUSR2'] : []), CLI, 'serve', '--config', config], { cwd: work, stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    await new Promise((r) => setTimeout(r, 3000));
    const url = `https://127.0.0.1:${port}/v2/bench/app/manifests/v1`;
    const headers = ['Accept: application/vnd.oci.image.manifest.v1+json', `Authorization: Basic ${Buffer.from('bench:bench-password').toString('base64')}`];
    let served = 0;
    let first: ReturnType<typeof heapByKind> | undefined;
    for (const phase of PHASES) {
      let rss: number[] = [];
      for (let done = 0; done < phase;) {
        const { result, samples } = await rssDuring(gw.pid!, () => wrk(url, { connections: 16, seconds: 10, headers }));
        done += result.rps * 10;
        served += result.rps * 10;
        rss = samples;
      }
      const line: Record<string, unknown> = { requests: Math.round(served), rssUnderLoadMiB: +(median(rss) / 1024).toFixed(1), highWaterMiB: +((await memory(gw.pid!)).peakKiB / 1024).toFixed(1) };
      if (snapshots) {
        const count = () => readdirSync(work).filter((f) => f.endsWith('.heapsnapshot')).length;
        const before = count();
        gw.kill('SIGUSR2');
        while (count() === before) await new Promise((r) => setTimeout(r, 200));
        await new Promise((r) => setTimeout(r, 3000));
        const file = readdirSync(work).filter((f) => f.endsWith('.heapsnapshot')).sort().pop()!;
        const heap = heapByKind(join(work, file));
        line.liveHeapMiB = +(heap.total / 1048576).toFixed(2);
        if (first) {
          const changed = [...new Set([...first.kinds.keys(), ...heap.kinds.keys()])].map((k) => [k, (heap.kinds.get(k) ?? 0) - (first!.kinds.get(k) ?? 0)] as const).sort((a, b) => Math.abs(b[1]) - Math.abs(a[1])).slice(0, 5);
          line.changedSinceFirstKiB = Object.fromEntries(changed.map(([k, v]) => [k, Math.round(v / 1024)]));
        }
        first ??= heap;
      }
      process.stdout.write(`${JSON.stringify(line)}\n`);
    }
  } finally {
    gw.kill('SIGTERM');
    await registry.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench:memory failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
