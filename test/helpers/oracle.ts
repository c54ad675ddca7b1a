// The Go oracle (test/oracle): an upstream that reads each request with Go's
// net/http, url and mime, as distribution does, and tells the test what Go
// made of it. Built here with Debian's golang-go, offline (standard library only).
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { exec, ROOT } from './exec.js';
import { onExit } from './cleanup.js';
import { freePort, waitForPort } from './registry.js';

/** One request as Go's net/http, url.ParseQuery, FormValue and mime.ParseMediaType read it. */
export interface GoView {
  method: string;
  host: string;
  path: string;
  rawPath: string;
  rawQuery: string;
  query: Record<string, string[]>;
  form: Record<string, string[]> | null;
  formError: string;
  formValues: Record<'mount' | 'from' | 'digest' | 'n' | 'last' | '_state', string>;
  mediaType: string;
  mediaParams: Record<string, string> | null;
  mediaError: string;
  header: Record<string, string[]>;
  trailer: Record<string, string[]> | null;
  transferEncoding: string[] | null;
  contentLength: number;
  bodyBytes: number;
}

export interface Oracle {
  url: string;
  /** What the upstream received since the last call, in order. */
  records(): Promise<GoView[]>;
  stop(): void;
}

/** Builds (cached by go) and starts the oracle; stopped with the test file at the latest. */
export async function startOracle(workDir: string): Promise<Oracle> {
  const bin = join(workDir, 'oracle');
  const env = {
    ...process.env, GOFLAGS: '-mod=mod', GOPROXY: 'off', GOTOOLCHAIN: 'local',
    GOCACHE: process.env.GOCACHE ?? join(ROOT, 'node_modules', '.cache', 'go-build'),
  };
  await mkdir(env.GOCACHE, { recursive: true });
  const built = await exec('go', ['build', '-o', bin, '.'], { cwd: join(ROOT, 'test', 'oracle'), env, timeoutMs: 180_000 });
  if (built.code !== 0) throw new Error(`go build of the oracle failed (is golang-go installed?): ${built.stderr}`);
  const [port, control] = [await freePort(), await freePort()];
  const child = spawn(bin, ['-listen', `127.0.0.1:${port}`, '-control', `127.0.0.1:${control}`], { stdio: 'ignore' });
  const forget = onExit(() => child.kill('SIGKILL'));
  await waitForPort(port);
  await waitForPort(control);
  return {
    url: `http://127.0.0.1:${port}`,
    async records() {
      const res = await fetch(`http://127.0.0.1:${control}/records`);
      return (await res.json()) as GoView[];
    },
    stop() {
      child.kill('SIGKILL');
      forget();
    },
  };
}
