// What `gateway up` says at start, as a new user sees it: JSON only when
// stdout is not a terminal; on a terminal (a pty from script(1)) a short
// summary with the web UI's URL, both SHA-256s of the CA labelled, and one
// setup command; a second `up` in the same directory answers "a gateway is
// already running (pid N)" before it starts anything; `gateway reload`
// signals that one process; a browser's GET / goes to the web UI.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI, exec, gateway } from '../helpers/exec.js';
import { onExit } from '../helpers/cleanup.js';
import { request } from '../helpers/https.js';
import { freePort, waitForPort } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';

interface Up { out: () => string; err: () => string; pid: number; exited: Promise<number | null>; stop: () => Promise<number | null> }

/** `gateway up` in dir, stdout and stderr apart; through script(1) for a terminal. */
function up(dir: string, args: string[], tty = false): Up {
  const argv = [CLI, 'up', ...args];
  const child = tty
    ? spawn('script', ['-qfec', [process.execPath, ...argv].map((a) => `'${a}'`).join(' '), '/dev/null'], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn(process.execPath, argv, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const forget = onExit(() => child.kill('SIGKILL'));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => { forget(); r(code); }));
  return {
    out: () => out, err: () => err, pid: child.pid!, exited,
    stop: async () => {
      // The gateway itself (script's child under a pty): by its pid file.
      const pid = Number((await readFile(join(dir, 'data', 'gateway.pid'), 'utf8').catch(() => '')).trim());
      if (pid > 1) process.kill(pid, 'SIGINT');
      else child.kill('SIGINT');
      return exited;
    },
  };
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const dir = await tempDir();
const [port, registryPort] = [await freePort(), await freePort()];
const first = up(dir, ['--listen', `127.0.0.1:${port}`, '--registry-port', String(registryPort)]);
after(async () => { await first.stop(); });
await until('the first start', () => first.out().includes('"msg":"gateway started"'));

test('not a terminal: stdout is JSON lines only (the UI URL and the commands in them); stderr has no setup command', async () => {
  await until('the setup line', () => first.out().includes('"msg":"node setup'));
  const lines = first.out().trim().split('\n');
  for (const l of lines) assert.doesNotThrow(() => JSON.parse(l), l);
  const started = lines.map((l) => JSON.parse(l)).find((e) => e.msg === 'gateway started');
  assert.match(started.ui, new RegExp(`^https://[^/]+:${port}/ui/$`));
  const setup = lines.map((l) => JSON.parse(l)).find((e) => String(e.msg).startsWith('node setup'));
  assert.equal(setup.caFingerprints.length, 1);
  assert.doesNotMatch(first.err(), /sh -c/);
  assert.match(first.err(), /created user 'admin' .* with password: \S+/, 'the password once, on stderr');
  // The name-constraints note is one short line now, the list left to certs show.
  const note = first.err().split('\n').find((l) => l.startsWith('name constraints:'))!;
  assert.ok(note.length < 250, note);
  assert.match(note, /gateway certs show/);
});

test('a second up in the same directory: "a gateway is already running (pid N)", and no second registry is started', async () => {
  const pid = Number((await readFile(join(dir, 'data', 'gateway.pid'), 'utf8')).trim());
  assert.equal((await readFile(`/proc/${pid}/comm`, 'utf8')).trim(), 'gateway');
  const otherRegistry = await freePort();
  for (const args of [['--listen', `127.0.0.1:${port}`], ['--listen', `127.0.0.1:${await freePort()}`]]) {
    const second = await exec(process.execPath, [CLI, 'up', ...args, '--registry-port', String(otherRegistry)], { cwd: dir });
    assert.equal(second.code, 1, second.stderr);
    assert.match(second.stderr, new RegExp(`^gateway: a gateway is already running \\(pid ${pid}`));
    assert.doesNotMatch(second.stderr, /docker-registry|--upstream/);
  }
  const other = await exec(process.execPath, [CLI, 'up', '--listen', `127.0.0.1:${port}`, '--registry-port', String(otherRegistry)], { cwd: await tempDir() });
  assert.equal(other.code, 1);
  assert.match(other.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: another program has port ${port}; .*--port N`));
  assert.doesNotMatch(other.stderr, /started a local docker-registry/);
});

test('gateway reload signals the gateway of this directory (its pid file), which reloads', async () => {
  const before = first.out().split('\n').filter((l) => l.includes('"msg":"TLS certificate reloaded"')).length;
  const r = await exec(process.execPath, [CLI, 'reload'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /sent SIGHUP to the gateway \(pid \d+\)/);
  await until('the reload', () => first.out().split('\n').filter((l) => l.includes('"msg":"TLS certificate reloaded"')).length > before);
  const none = await exec(process.execPath, [CLI, 'reload'], { cwd: await tempDir() });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no running gateway is named in data\/gateway\.pid/);
});

test('GET / from a browser (Accept: text/html) goes to /ui/; a registry client still gets the registry\'s 404', async () => {
  const ca = await readFile(join(dir, 'certs', 'ca.crt'), 'utf8');
  const browser = await request(`https://127.0.0.1:${port}/`, { ca, headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
  assert.equal(browser.status, 302);
  assert.equal(browser.headers.location, '/ui/');
  const client = await request(`https://127.0.0.1:${port}/`, { ca, headers: { accept: 'application/json' } });
  assert.equal(client.status, 404);
  assert.equal(client.json().errors[0].code, 'NOT_FOUND');
  assert.equal((await request(`https://127.0.0.1:${port}/`, { ca, method: 'POST', headers: { accept: 'text/html' } })).status, 404);
});

test('the CA\'s two SHA-256s are labelled and match what sha256sum and openssl x509 -fingerprint -sha256 print', async () => {
  const caPath = join(dir, 'certs', 'ca.crt');
  const fileHash = (await exec('sha256sum', [caPath])).stdout.split(' ')[0]!;
  const fingerprint = /Fingerprint=([0-9A-F:]+)/.exec((await exec('openssl', ['x509', '-in', caPath, '-noout', '-fingerprint', '-sha256'])).stdout)![1]!;
  assert.equal(fingerprint, new X509Certificate(await readFile(caPath)).fingerprint256);
  const show = await gateway(['certs', 'show', '--dir', join(dir, 'certs')]);
  assert.match(show.stdout, new RegExp(`ca\\.crt\\n(?:.*\\n)*? {2}fingerprint: {2}${fingerprint}  \\(certificate SHA-256 fingerprint, as openssl x509 -fingerprint -sha256`));
  assert.match(show.stdout, new RegExp(`CA file SHA-256: ${fileHash}  \\(sha256sum of /trust/ca\\.crt`));
  const ca = await readFile(caPath, 'utf8');
  const index = (await request(`https://127.0.0.1:${port}/trust/`, { ca })).body.toString();
  assert.match(index, new RegExp(`CA file SHA-256 \\(sha256sum of ca\\.crt; what the setup command checks\\): ${fileHash}`));
  assert.match(index, new RegExp(`CA certificate SHA-256 fingerprint \\(openssl x509 -fingerprint -sha256, browsers\\): ${fingerprint}`));
  assert.equal(createHash('sha256').update(ca).digest('hex'), fileHash);
});

test('on a terminal: a short summary (UI URL, both CA hashes, one setup command, the /trust/ URL), short log lines', async () => {
  const tdir = await tempDir();
  const [p, rp] = [await freePort(), await freePort()];
  const tty = up(tdir, ['--listen', `127.0.0.1:${p}`, '--registry-port', String(rp)], true);
  try {
    await until('the summary', () => tty.out().includes('/trust/\r\n') || tty.out().includes('/trust/\n'));
    await waitForPort(p);
    const text = tty.out().replace(/\r/g, '');
    assert.match(text, new RegExp(`registry-gateway \\S+ is running on 127\\.0\\.0\\.1:${p} \\(upstream http://127\\.0\\.0\\.1:${rp}, auth htpasswd\\)`));
    assert.match(text, new RegExp(`\\n {2}web UI {5}https://[^/\\s]+:${p}/ui/\\n`));
    assert.match(text, /\n {2}CA file SHA-256 \(sha256sum of ca\.crt; what the setup command checks\): [0-9a-f]{64}\n/);
    assert.match(text, /\n {2}CA certificate SHA-256 fingerprint \(openssl x509 -fingerprint -sha256, browsers\): ([0-9A-F]{2}:){31}[0-9A-F]{2}\n/);
    assert.equal(text.split('\n').filter((l) => l.startsWith("  sh -c '")).length, 1, 'one setup command');
    assert.doesNotMatch(text, /^\{"level"/m, 'no JSON on a terminal');
    assert.match(text, /^\d\d:\d\d:\d\d info {2}gateway started {2}version=/m);
    assert.match(text, /created user 'admin'/);
    // Every line but the setup command is short enough to read.
    const long = text.split('\n').filter((l) => l.length > 250 && !l.startsWith("  sh -c '"));
    assert.deepEqual(long, []);
  } finally {
    assert.equal(await tty.stop(), 0);
  }
  assert.ok(!existsSync(join(tdir, 'data', 'gateway.pid')), 'the pid file goes with the gateway');
});
