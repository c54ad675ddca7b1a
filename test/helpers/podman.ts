// Podman (root) with all its state in one test directory. Flags put storage
// (vfs), run state, tmp, events and network config there; the rest of what
// podman, conmon, runc and containers/image write by default (/run/runc,
// /run/containers, /var/lib/containers/cache) lands there too, because every
// call runs in a private mount namespace whose /run and /var/lib are this
// directory's. Nothing of the machine's container state is read or touched,
// and mounts made by a call vanish with its namespace.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { onExit } from './cleanup.js';
import { exec, type ExecResult } from './exec.js';

export interface Podman {
  dir: string;
  /** The OCI runtime chosen by `pickRuntime` (crun or runc). */
  runtime: string;
  /** Any command (skopeo too) in the private namespace. */
  wrapped: (cmd: string, args: string[], timeoutMs?: number) => Promise<ExecResult>;
  podman: (args: string[], timeoutMs?: number) => Promise<ExecResult>;
  /** A long-running `podman ...` (run, attached), its output collected. */
  start: (args: string[]) => { child: ChildProcess; output: () => string; exited: Promise<number | null> };
  /** Run-flags that keep resource limits within what this process holds. */
  limits: string[];
  /** Tries each runtime with `run --rm ARGS`; keeps the first that works, returns every error. */
  pickRuntime: (runArgs: string[], runtimes?: string[]) => Promise<Record<string, string>>;
  /** Removes every container (force) and image. */
  reset: () => Promise<void>;
  /** Removes every container, synchronously: for onExit, when a file dies mid-way. */
  resetSync: () => void;
}

// Raising a hard rlimit needs CAP_SYS_RESOURCE, which root lacks on some CI
// machines; podman's defaults (nofile 1048576, nproc 4194304 once --ulimit is
// given) then fail in the runtime with "setrlimit: Operation not permitted".
async function limitFlags(): Promise<string[]> {
  const text = await readFile('/proc/self/limits', 'utf8');
  const hard = (name: string) => {
    const line = text.split('\n').find((l) => l.startsWith(name));
    const v = line?.slice(name.length).trim().split(/\s+/)[1];
    return v === undefined || v === 'unlimited' ? Infinity : Number(v);
  };
  const nofile = Math.min(hard('Max open files'), 1_048_576);
  // podman holds at most 32768 processes itself (its default for containers).
  const nproc = Math.min(hard('Max processes'), 32_768);
  return ['--ulimit', `nofile=${nofile}:${nofile}`, '--ulimit', `nproc=${nproc}:${nproc}`];
}

export async function privatePodman(dir: string): Promise<Podman> {
  for (const d of ['storage', 'runroot', 'tmp', 'net', 'shadow-run', 'shadow-var-lib']) await mkdir(join(dir, d), { recursive: true });
  await writeFile(join(dir, 'registries.conf'), '');
  await writeFile(join(dir, 'storage.conf'), `[storage]\ndriver = "vfs"\ngraphroot = "${join(dir, 'storage')}"\nrunroot = "${join(dir, 'runroot')}"\n`);
  const env = { ...process.env, CONTAINERS_REGISTRIES_CONF: join(dir, 'registries.conf'), CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf'), HOME: dir };
  const ns = (cmd: string, args: string[]) => ['unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c',
    'mount --bind "$1" /run && mount --bind "$2" /var/lib && shift 2 && exec "$@"', 'sh', join(dir, 'shadow-run'), join(dir, 'shadow-var-lib'), cmd, ...args]] as const;
  const state: Podman = {
    dir,
    runtime: 'runc',
    limits: await limitFlags(),
    wrapped: (cmd, args, timeoutMs = 300_000) => {
      const [file, full] = ns(cmd, args);
      return exec(file, full, { env, timeoutMs });
    },
    podman: (args, timeoutMs) => state.wrapped('podman', [...globals(), ...args], timeoutMs),
    start: (args) => {
      const [file, full] = ns('podman', [...globals(), ...args]);
      const child = spawn(file, full, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      child.stderr!.on('data', (d) => (out += d));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      const forget = onExit(() => child.kill('SIGKILL'));
      void exited.then(forget);
      return { child, output: () => out, exited };
    },
    pickRuntime: async (runArgs, runtimes = ['crun', 'runc']) => {
      const errors: Record<string, string> = {};
      for (const runtime of runtimes) {
        state.runtime = runtime;
        const r = await state.podman(['run', '--rm', ...state.limits, ...runArgs]);
        if (r.code === 0) return errors;
        errors[runtime] = r.stderr.trim();
      }
      throw new Error(`no OCI runtime could start a container: ${JSON.stringify(errors, null, 2)}`);
    },
    reset: async () => {
      await state.podman(['rm', '--all', '--force', '--time', '0']);
      await state.podman(['rmi', '--all', '--force']);
    },
    resetSync: () => {
      const [file, full] = ns('podman', [...globals(), 'rm', '--all', '--force', '--time', '0']);
      spawnSync(file, full, { env, stdio: 'ignore', timeout: 30_000 });
    },
  };
  const globals = () => ['--root', join(dir, 'storage'), '--runroot', join(dir, 'runroot'), '--tmpdir', join(dir, 'tmp'),
    '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--network-backend', 'netavark',
    '--network-config-dir', join(dir, 'net'), '--volumepath', join(dir, 'storage', 'volumes'), '--runtime', state.runtime];
  return state;
}
