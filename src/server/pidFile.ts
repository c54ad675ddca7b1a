// The pid file of a running gateway (`serve --pid-file`, `up` by default):
// `gateway reload` signals that one process, where `pidof gateway` finds every
// gateway on the machine; and a second `up` tells "a gateway is already
// running (pid N)" from "another program has the port".
import { readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { mkdirSync } from 'node:fs';
import { writeFilesAtomically } from '../util/atomicFiles.js';

/** Writes this process's pid; the returned function removes the file if it still names this process. */
export async function writePidFile(path: string): Promise<() => Promise<void>> {
  mkdirSync(dirname(path), { recursive: true });
  await writeFilesAtomically([{ path, content: `${process.pid}\n`, mode: 0o644 }]);
  return async () => {
    const now = await readFile(path, 'utf8').catch(() => '');
    if (now.trim() === String(process.pid)) await rm(path, { force: true });
  };
}

/** The pid in the file when that process is alive and is a gateway (its name is 'gateway', main.ts); else undefined. */
export async function runningGateway(path: string): Promise<number | undefined> {
  const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return undefined;
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: alive, another user's.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  try {
    // A stale file whose pid was reused by something else is not a gateway.
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'gateway' ? pid : undefined;
  } catch {
    return pid; // no /proc: trust kill -0
  }
}

/** Whether host:port is taken (bound by another process). */
export function portInUse(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'EADDRINUSE'));
    probe.listen({ host, port, ipv6Only: false, exclusive: true }, () => probe.close(() => done(false)));
  });
}
