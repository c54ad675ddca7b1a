// `npm start` stopped the ways an operator stops it: SIGTERM or SIGINT to the
// npm process, to the gateway's node process or to the whole process group,
// and SIGKILL of the gateway. Each time every process `npm start` started
// (npm, the shells, node, the local docker-registry) must be gone and both
// ports closed within a few seconds. The real package.json and
// scripts/start.sh run, from a staged copy whose certs, htpasswd and data stay
// in a temporary directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, readFile, readdir, symlink } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import https from 'node:https';
import { connect } from 'node:net';
import { join } from 'node:path';
import { ROOT } from '../helpers/exec.js';
import { onExit } from '../helpers/cleanup.js';
import { freePort } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';

const STOP_WITHIN_MS = 5_000;
const START_WITHIN_MS = 60_000;

/** A process as it was when seen: the start time tells a reused pid apart. */
interface Seen {
  pid: number;
  ppid: number;
  start: string;
  cmd: string;
}

function stat(pid: number): { ppid: number; pgid: number; state: string; start: string } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: fields count from its last ')'.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: f[0]!, ppid: Number(f[1]), pgid: Number(f[2]), start: f[19]! };
  } catch {
    return undefined;
  }
}

const cmdline = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
};

/** A zombie has stopped: only its exit status waits to be collected. */
function alive(p: Seen): boolean {
  const now = stat(p.pid);
  return now !== undefined && now.start === p.start && now.state !== 'Z';
}

/** `root` and everything below it, now. */
async function tree(root: number): Promise<Seen[]> {
  const children = new Map<number, number[]>();
  for (const name of await readdir('/proc')) {
    const pid = Number(name);
    const s = Number.isInteger(pid) ? stat(pid) : undefined;
    if (s) children.set(s.ppid, [...(children.get(s.ppid) ?? []), pid]);
  }
  const out: Seen[] = [];
  const walk = (pid: number) => {
    const s = stat(pid);
    if (!s || s.state === 'Z') return;
    out.push({ pid, ppid: s.ppid, start: s.start, cmd: cmdline(pid) });
    (children.get(pid) ?? []).forEach(walk);
  };
  walk(root);
  return out;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = connect(port, '127.0.0.1', () => {
      s.destroy();
      done(true);
    });
    s.once('error', () => done(false));
  });
}

function healthz(port: number, ca: string): Promise<number> {
  return new Promise((done) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/healthz', ca, agent: false, timeout: 2_000 }, (res) => {
      res.resume();
      done(res.statusCode ?? 0);
    });
    req.once('error', () => done(0));
    req.once('timeout', () => req.destroy());
  });
}

/** package.json and scripts/ copied, dist and node_modules linked: start.sh's `cd` lands here. */
async function stage(): Promise<string> {
  const dir = await tempDir('gw-stops-');
  await copyFile(join(ROOT, 'package.json'), join(dir, 'package.json'));
  await mkdir(join(dir, 'scripts'));
  await copyFile(join(ROOT, 'scripts', 'start.sh'), join(dir, 'scripts', 'start.sh'));
  await symlink(join(ROOT, 'dist'), join(dir, 'dist'));
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

interface Started {
  npm: ChildProcess;
  port: number;
  registryPort: number;
  processes: Seen[];
  node: Seen;
  registry: Seen;
  output: () => string;
  /** SIGKILL to whatever is left; safe to call twice. */
  kill: () => void;
}

async function npmStart(dir: string, path = process.env.PATH): Promise<Started> {
  const [port, registryPort] = [await freePort(), await freePort()];
  // Its own process group (and session), as a terminal gives `npm start`; no network for npm's update check.
  const npm = spawn('npm', ['start', '--', '--listen', `127.0.0.1:${port}`, '--registry-port', String(registryPort)], {
    cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PATH: path, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' },
  });
  let out = '';
  npm.stdout!.on('data', (d) => (out += d));
  npm.stderr!.on('data', (d) => (out += d));
  let processes: Seen[] = [];
  const kill = () => {
    for (const p of processes) if (alive(p)) process.kill(p.pid, 'SIGKILL');
    try {
      process.kill(-npm.pid!, 'SIGKILL');
    } catch {
      // the group is gone already
    }
  };
  const forget = onExit(kill);
  npm.once('exit', () => setTimeout(forget, 0));
  try {
    const deadline = Date.now() + START_WITHIN_MS;
    for (;;) {
      if (npm.exitCode !== null || npm.signalCode !== null) throw new Error(`npm start exited: ${out}`);
      const ca = await readFile(join(dir, 'certs', 'ca.crt'), 'utf8').catch(() => '');
      if (ca && (await healthz(port, ca)) === 200) break;
      if (Date.now() > deadline) throw new Error(`no /healthz within ${START_WITHIN_MS} ms: ${out}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    processes = await tree(npm.pid!);
    // The gateway renames its process ('gateway'): it is known as the registry's parent.
    const registry = processes.find((p) => p.cmd.startsWith('docker-registry'));
    const node = processes.find((p) => p.pid === registry?.ppid);
    assert.ok(node && registry, `expected node and docker-registry under npm: ${JSON.stringify(processes)}`);
    return { npm, port, registryPort, processes, node, registry, output: () => out, kill };
  } catch (err) {
    processes = await tree(npm.pid!);
    kill();
    throw err;
  }
}

/** Waits until every process is gone and both ports are closed; reports what is left otherwise. */
async function assertAllStopped(s: Started, what: string): Promise<void> {
  const deadline = Date.now() + STOP_WITHIN_MS;
  for (;;) {
    const left = s.processes.filter(alive).map((p) => `${p.pid} ${p.cmd}`);
    const open = [];
    if (await portOpen(s.port)) open.push(`gateway ${s.port}`);
    if (await portOpen(s.registryPort)) open.push(`registry ${s.registryPort}`);
    if (left.length === 0 && open.length === 0) return;
    if (Date.now() > deadline) {
      assert.fail(`${what}: after ${STOP_WITHIN_MS} ms still running: ${left.join('; ') || 'none'}; ` +
        `still listening: ${open.join(', ') || 'none'}\n${s.output()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** PATH with every program of /usr/bin but setpriv: the fallbacks' case. */
async function pathWithoutSetpriv(): Promise<string> {
  const bin = await tempDir('gw-stops-bin-');
  for (const name of await readdir('/usr/bin')) if (name !== 'setpriv') await symlink(join('/usr/bin', name), join(bin, name));
  const dirs = (process.env.PATH ?? '').split(':').filter((d) => d !== '/usr/bin' && d !== '/bin');
  for (const d of dirs) assert.ok(!existsSync(join(d, 'setpriv')), `setpriv in ${d} too`);
  return [bin, ...dirs].join(':');
}

const dir = await stage();

type Target = 'npm' | 'node' | 'group';
const pidOf = (s: Started, target: Target) => (target === 'npm' ? s.npm.pid! : target === 'node' ? s.node.pid : -s.npm.pid!);

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  for (const target of ['npm', 'node', 'group'] as const) {
    test(`${signal} to the ${target === 'group' ? 'whole process group' : `${target} process`} stops the gateway and the local registry`, async () => {
      const s = await npmStart(dir);
      try {
        process.kill(pidOf(s, target), signal);
        await assertAllStopped(s, `${signal} to ${target}`);
        // Stopped, not killed: the gateway closed its listener and then stopped the registry.
        assert.match(s.output(), /"msg":"shutting down"/);
      } finally {
        s.kill();
      }
    });
  }
}

test('SIGKILL of the gateway takes the local registry with it', async () => {
  const s = await npmStart(dir);
  try {
    process.kill(s.node.pid, 'SIGKILL');
    await assertAllStopped(s, 'SIGKILL to node');
  } finally {
    s.kill();
  }
});

test('without setpriv, SIGKILL of npm still stops both: the gateway notices that its parent is gone', async () => {
  const s = await npmStart(dir, await pathWithoutSetpriv());
  try {
    assert.match(s.output(), /not tied to the gateway \(setpriv from util-linux is missing or refused\)/);
    // npm gets no chance to pass anything on: only the gateway's own check can stop it.
    process.kill(s.npm.pid!, 'SIGKILL');
    await assertAllStopped(s, 'SIGKILL of npm without setpriv');
    assert.match(s.output(), /the process that started the gateway is gone: stopping/);
  } finally {
    s.kill();
  }
});

test('SIGKILL of npm stops both: the gateway gets SIGINT when its parent dies', async () => {
  const s = await npmStart(dir);
  try {
    process.kill(s.npm.pid!, 'SIGKILL');
    await assertAllStopped(s, 'SIGKILL of npm');
    assert.match(s.output(), /"msg":"shutting down","signal":"SIGINT"|"signal":"SIGINT".*"msg":"shutting down"/);
  } finally {
    s.kill();
  }
});
