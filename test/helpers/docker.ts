// A private dockerd for tests (the flags DEVELOPERS.md gives), and a guard
// that removes whatever a test or dockerd adds under /etc/docker.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exec, type ExecResult } from './exec.js';
import { onExit } from './cleanup.js';

export type Cleanups = (() => Promise<unknown>)[];

function listTree(dir: string): Set<string> {
  const out = new Set<string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      out.add(p);
      if (statSync(p).isDirectory()) walk(p);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

/**
 * A lock between test files (they run two at a time): two guards of one
 * directory would each remove what the other's test added. Stale when its
 * holder is gone.
 */
async function lockFor(dir: string, cleanups: Cleanups): Promise<void> {
  const lock = join('/tmp', `gwtest-lock${dir.replace(/\//g, '-')}`);
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch {
      let holder = NaN;
      try { holder = Number(readFileSync(join(lock, 'pid'), 'utf8')); } catch { /* being written or removed */ }
      try { if (holder) process.kill(holder, 0); } catch { rmSync(lock, { recursive: true, force: true }); continue; }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const release = () => rmSync(lock, { recursive: true, force: true });
  cleanups.push(async () => release());
  onExit(release);
}

/** Records a directory tree now; undoing removes every path added since (or the directory, if it was not there). */
export async function guardDirectory(dir: string, cleanups: Cleanups): Promise<void> {
  await lockFor(dir, cleanups);
  const existed = existsSync(dir);
  const before = listTree(dir);
  const restore = () => {
    if (!existed) return rmSync(dir, { recursive: true, force: true });
    for (const p of [...listTree(dir)].sort().reverse()) if (!before.has(p)) rmSync(p, { recursive: true, force: true });
  };
  cleanups.push(async () => restore());
  onExit(restore);
}

export interface Dockerd {
  docker: (args: string[], input?: string) => Promise<ExecResult>;
  configDir: string;
}

export async function startDockerd(work: string, cleanups: Cleanups): Promise<Dockerd> {
  const root = join('/tmp', `gwdocker-${randomBytes(3).toString('hex')}`);
  mkdirSync(root);
  cleanups.push(async () => rmSync(root, { recursive: true, force: true }));
  onExit(() => rmSync(root, { recursive: true, force: true }));
  writeFileSync(join(root, 'daemon.json'), '{}');
  const sock = join(root, 'docker.sock');
  const daemon = spawn('dockerd', ['--iptables=false', '--bridge=none', '--storage-driver=vfs', '--data-root', join(root, 'data'), '--exec-root', join(root, 'exec'), '-H', `unix://${sock}`, '--pidfile', join(root, 'docker.pid'), '--config-file', join(root, 'daemon.json')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  daemon.stdout!.on('data', (d) => (log += d));
  daemon.stderr!.on('data', (d) => (log += d));
  const exited = new Promise((r) => daemon.once('exit', r));
  onExit(() => daemon.kill('SIGKILL'));
  cleanups.push(async () => {
    daemon.kill('SIGTERM');
    const timer = setTimeout(() => daemon.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  });
  const configDir = join(work, 'docker-config');
  const env = { ...process.env, DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: configDir };
  const docker = (args: string[], input?: string) => exec('docker', args, { env, timeoutMs: 300_000, ...(input !== undefined ? { input } : {}) });
  const deadline = Date.now() + 60_000;
  while ((await docker(['version'])).code !== 0) {
    if (Date.now() > deadline) throw new Error(`dockerd did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 300));
  }
  return { docker, configDir };
}

/** A small image from a tarball of random bytes: `docker import`, no registry needed. */
export async function importImage(d: Dockerd, work: string, image: string, bytes = 2 * 1024 * 1024): Promise<void> {
  const rootfs = join(work, `rootfs-${randomBytes(3).toString('hex')}`);
  mkdirSync(rootfs);
  writeFileSync(join(rootfs, 'payload.bin'), randomBytes(bytes));
  const tar = `${rootfs}.tar`;
  const t = await exec('tar', ['-C', rootfs, '-cf', tar, '.']);
  if (t.code !== 0) throw new Error(t.stderr);
  const r = await d.docker(['import', tar, image]);
  if (r.code !== 0) throw new Error(r.stderr);
}
