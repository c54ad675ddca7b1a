// A local docker-registry (distribution) as the upstream, for `gateway up`
// when no upstream is configured: the quick start needs nothing else running.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { writeFilesAtomically } from '../util/atomicFiles.js';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fail } from '../errors.js';

const STOP_GRACE_MS = 5_000;

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

/**
 * A push asks HEAD for each blob before it uploads it, and distribution logs
 * every such 404 at level=error: those lines say nothing is wrong, and are
 * the only ones dropped. A GET of a missing blob (a pull of a broken image)
 * and every other error still reach the log.
 */
export function routineLine(line: string): boolean {
  return line.includes('level=error') && line.includes('err.code="blob unknown"') && line.includes('http.request.method=HEAD');
}

/**
 * The registry must not outlive a gateway killed with SIGKILL (nothing in the
 * gateway runs then): setpriv from util-linux asks the kernel to SIGKILL it
 * when its parent dies. Checked once by running it, since a seccomp profile
 * may refuse the prctl even where setpriv is installed.
 */
let deathSignal: boolean | undefined;
function parentDeathSignal(): boolean {
  if (deathSignal === undefined) {
    try {
      execFileSync('setpriv', ['--pdeathsig', 'KILL', 'true'], { stdio: 'ignore', timeout: 5_000 });
      deathSignal = true;
    } catch {
      deathSignal = false;
    }
  }
  return deathSignal;
}

/**
 * With setpriv the registry runs in its own process group: Ctrl-C or a
 * group-wide SIGTERM then reaches the gateway only, which stops it after the
 * in-flight transfers (the kernel still kills it if the gateway dies). Without
 * it, the registry stays in the gateway's group, so a signal to the group at
 * least still reaches it.
 */
function spawnRegistry(configPath: string, warn: (line: string) => void): ChildProcess {
  const args = ['serve', configPath];
  const stdio: ['ignore', 'pipe', 'pipe'] = ['ignore', 'pipe', 'pipe'];
  // PR_SET_PDEATHSIG fires when the thread that forked dies: node spawns from its main thread, which lives as long as the process.
  if (parentDeathSignal()) return spawn('setpriv', ['--pdeathsig', 'KILL', 'docker-registry', ...args], { stdio, detached: true });
  warn('not tied to the gateway (setpriv from util-linux is missing or refused): if the gateway is killed with SIGKILL, this registry keeps running');
  return spawn('docker-registry', args, { stdio });
}

/** Whether an executable of this name is on PATH. */
function onPath(name: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => {
    try {
      accessSync(join(dir || '.', name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export async function startLocalRegistry(dataDir: string, port: number, onOutput: (line: string) => void): Promise<LocalRegistry> {
  // Looked up first: under setpriv a missing docker-registry is setpriv's exit status, not a spawn error.
  if (!onPath('docker-registry')) {
    return fail('FILE_MISSING', "no upstream is configured and 'docker-registry' is not installed: " +
      "install it (apt-get install docker-registry) or set --upstream / upstream: to your registry");
  }
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
  const child = spawnRegistry(configPath, onOutput);
  await new Promise<void>((ok, ko) => {
    child.once('spawn', ok);
    child.once('error', ko);
  }).catch((err: Error) => fail('LISTEN_FAILED', `cannot start the local docker-registry: ${err.message}`));
  // Whole lines: a chunk may end inside one.
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream, crlfDelay: Infinity }).on('line', (l) => {
      if (l && !routineLine(l)) onOutput(l);
    });
  }
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
        // distribution exits at once on SIGTERM; a hung one must not hold the gateway's exit.
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
