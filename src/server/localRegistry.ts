// A local docker-registry (distribution) as the upstream, for `gateway up`
// when no upstream is configured: the quick start needs nothing else running.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { writeFilesAtomically } from '../util/atomicFiles.js';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { fail } from '../errors.js';

export interface LocalRegistry {
  url: string;
  stop(): Promise<void>;
}

function listening(port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = connect(port, '127.0.0.1', () => {
      s.destroy();
      done(true);
    });
    s.once('error', () => done(false));
  });
}

export async function startLocalRegistry(dataDir: string, port: number, onOutput: (line: string) => void): Promise<LocalRegistry> {
  if (await listening(port)) {
    fail('LISTEN_FAILED', `127.0.0.1:${port} is already in use; ` +
      `if a registry runs there, point the gateway at it with --upstream http://127.0.0.1:${port}`);
  }
  const storage = resolve(dataDir, 'registry');
  await mkdir(storage, { recursive: true });
  const configPath = join(resolve(dataDir), 'registry.yml');
  // JSON is valid YAML. The secret signs upload state; 0600 because of it.
  await writeFilesAtomically([{ path: configPath, mode: 0o600, content: JSON.stringify({
    version: 0.1,
    log: { level: 'warn', accesslog: { disabled: true } },
    storage: { filesystem: { rootdirectory: storage }, delete: { enabled: true } },
    http: { addr: `127.0.0.1:${port}`, secret: randomBytes(32).toString('hex') },
  }, null, 2) }]);
  let child: ChildProcess;
  try {
    child = spawn('docker-registry', ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((ok, ko) => {
      child.once('spawn', ok);
      child.once('error', ko);
    });
  } catch {
    return fail('FILE_MISSING', "no upstream is configured and 'docker-registry' is not installed: " +
      "install it (apt-get install docker-registry) or set --upstream / upstream: to your registry");
  }
  const forward = (d: Buffer) => d.toString().split('\n').filter(Boolean).forEach((l) => onOutput(l));
  child.stdout!.on('data', forward);
  child.stderr!.on('data', forward);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + 15_000;
  while (!(await listening(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      fail('LISTEN_FAILED', `the local docker-registry did not start on 127.0.0.1:${port} (see its output above)`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}
