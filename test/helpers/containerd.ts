// A private containerd daemon for tests, driven with ctr.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { exec, type ExecResult } from './exec.js';
import { onExit } from './cleanup.js';

export interface Containerd {
  ctr: (args: string[]) => Promise<ExecResult>;
  stop: () => Promise<void>;
}

export async function startContainerd(root: string): Promise<Containerd> {
  const sock = join(root, 'containerd.sock');
  const daemon = spawn('containerd', ['--root', join(root, 'root'), '--state', join(root, 'state'), '--address', sock, '--config', '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  daemon.stdout!.on('data', (d) => (log += d));
  daemon.stderr!.on('data', (d) => (log += d));
  const forget = onExit(() => daemon.kill('SIGKILL'));
  const exited = new Promise((r) => daemon.once('exit', r));
  const stop = async () => {
    daemon.kill('SIGTERM');
    await exited;
    forget();
  };
  const ctr = (args: string[]) => exec('ctr', ['--address', sock, ...args], { timeoutMs: 300_000 });
  const deadline = Date.now() + 20_000;
  while ((await ctr(['version'])).code !== 0) {
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`containerd did not start: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { ctr, stop };
}
