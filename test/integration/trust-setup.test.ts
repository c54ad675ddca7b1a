// The short node setup command (src/trust/setup.ts) against running
// gateways, run by dash and by bash as a user pastes it: it installs what the
// long, self-contained command installs, byte for byte; it refuses a gateway
// whose CA is not the one it pins before fetching anything else from it; a
// failed download says so; nothing is left in $TMPDIR; /trust/setup alone
// refuses to run. `serve --long-setup` logs the long form instead.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { exec, gateway as gatewayCli } from '../helpers/exec.js';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { request } from '../helpers/https.js';
import { freePort } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';

const work = await tempDir();
async function gatewayWithCa(name: string, args: string[] = []): Promise<{ gw: GatewayProcess; ca: string }> {
  const certs = join(work, `certs-${name}`);
  assert.equal((await gatewayCli(['certs', 'init', '--dir', certs, '--host', 'localhost', '--host', '127.0.0.1'])).code, 0);
  const gw = await startGateway(work, {
    upstream: `http://127.0.0.1:${await freePort()}`, // /trust/ needs no upstream
    tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') }, auth: { mode: 'none' },
  }, { args });
  return { gw, ca: await readFile(join(certs, 'ca.crt'), 'utf8') };
}
const a = await gatewayWithCa('a');
const b = await gatewayWithCa('b');
const long = await gatewayWithCa('long', ['--long-setup']);
after(async () => {
  for (const g of [a, b, long]) await g.gw.stop();
});

const logged = async (g: GatewayProcess) => {
  const e = await g.waitFor((entry) => Array.isArray(entry.commands));
  return { commands: e.commands as string[], caSha256: String(e.caSha256) };
};
const forAddress = (commands: string[], port: number) => commands.find((c) => c.includes(`https://127.0.0.1:${port}/`))!;
/** Every file under dir, with its bytes. */
async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out[relative(dir, join(e.parentPath, e.name))] = await readFile(join(e.parentPath, e.name), 'utf8');
  }
  return out;
}
let runs = 0;
/** The command as a user runs it, with its own empty TMPDIR, which must be empty again afterwards. */
async function run(shell: 'dash' | 'bash', command: string, args: string) {
  const tmp = join(work, `tmp-${runs++}`);
  await mkdir(tmp);
  const r = await exec(shell, ['-c', `${command} ${args}`], { env: { ...process.env, TMPDIR: tmp }, cwd: work });
  assert.deepEqual(await readdir(tmp), [], `${shell} left files in TMPDIR`);
  return r;
}

test('the logged command is the short one (under 500 characters), and /trust/ lists it with the long one', async () => {
  const { commands, caSha256 } = await logged(a.gw);
  const short = forAddress(commands, a.gw.port);
  assert.ok(short.length < 500, `${short.length} characters: ${short}`);
  assert.ok(short.includes(caSha256));
  assert.ok(short.includes(`https://127.0.0.1:${a.gw.port}/trust/setup`));
  const index = (await request(`https://127.0.0.1:${a.gw.port}/trust/`, { ca: a.ca })).body.toString();
  assert.ok(index.includes(short), index);
  const longForm = index.split('\n').map((l) => l.trim()).find((l) => l.startsWith("sh -c 'f=$(mktemp)") && l.includes(`127.0.0.1:${a.gw.port}`));
  assert.ok(longForm && longForm.length > 700, `the long form is listed too: ${index}`);
  // /trust/setup: public, a shell script that carries /trust/install.sh unchanged.
  const setup = await request(`https://127.0.0.1:${a.gw.port}/trust/setup`, { ca: a.ca });
  assert.equal(setup.status, 200);
  assert.match(String(setup.headers['content-type']), /^text\/x-shellscript/);
  const install = (await request(`https://127.0.0.1:${a.gw.port}/trust/install.sh`, { ca: a.ca })).body.toString();
  assert.ok(setup.body.toString().includes(`\n${install}`), 'install.sh inside /trust/setup, byte for byte');
});

for (const shell of ['dash', 'bash'] as const) {
  test(`${shell}: the short command installs exactly what the long one does; again, nothing changes; --dry-run writes nothing`, async () => {
    const short = forAddress((await logged(a.gw)).commands, a.gw.port);
    const index = (await request(`https://127.0.0.1:${a.gw.port}/trust/`, { ca: a.ca })).body.toString();
    const longForm = index.split('\n').map((l) => l.trim()).find((l) => l.startsWith("sh -c 'f=$(mktemp)") && l.includes(`127.0.0.1:${a.gw.port}`))!;
    const [viaShort, viaLong] = [join(work, `${shell}-short`), join(work, `${shell}-long`)];
    const runtimes = '--runtimes docker,containerd,containers,k3s';
    const r = await run(shell, short, `--root ${viaShort} ${runtimes}`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /wrote +\S+\/etc\/containerd\/certs\.d\/127\.0\.0\.1:\d+\/hosts\.toml/);
    assert.equal((await run(shell, longForm, `--root ${viaLong} ${runtimes}`)).code, 0);
    const installed = await tree(viaShort);
    assert.ok(Object.keys(installed).length >= 6, JSON.stringify(Object.keys(installed)));
    assert.deepEqual(installed, await tree(viaLong));
    assert.equal(installed[`etc/containers/certs.d/127.0.0.1:${a.gw.port}/ca.crt`], a.ca);
    const again = await run(shell, short, `--root ${viaShort} ${runtimes}`);
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stdout, /^wrote/m);
    const dry = join(work, `${shell}-dry`);
    const dryRun = await run(shell, short, `--root ${dry} ${runtimes} --dry-run`);
    assert.equal(dryRun.code, 0, dryRun.stderr);
    assert.deepEqual(await tree(dry).catch(() => ({})), {});
  });
}

test('pinned to one CA, pointed at a gateway with another: refuses before fetching anything else, installs nothing', async () => {
  const { commands, caSha256 } = await logged(a.gw);
  // The command for A, with B's port: what a wrong address (or a man in the middle) gives.
  const wrong = forAddress(commands, a.gw.port).replaceAll(`127.0.0.1:${a.gw.port}`, `127.0.0.1:${b.gw.port}`);
  assert.ok(wrong.includes(caSha256));
  const before = b.gw.entries().length;
  const root = join(work, 'wrong');
  for (const shell of ['dash', 'bash'] as const) {
    const r = await run(shell, wrong, `--root ${root}`);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), 'setup: not the CA this command pins: refusing it (wrong address, or the CA changed)');
  }
  assert.deepEqual(await tree(root).catch(() => ({})), {});
  // B's access log: ca.crt fetched (once per shell), /trust/setup never.
  const paths = async () => b.gw.entries().slice(before).filter((e) => e.msg === 'request').map((e) => String(e.path));
  const deadline = Date.now() + 10_000;
  while ((await paths()).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(await paths(), ['/trust/ca.crt', '/trust/ca.crt']);
});

test('a gateway that does not answer: curl says so, exit not 0, nothing installed', async () => {
  const closed = await freePort();
  const command = forAddress((await logged(a.gw)).commands, a.gw.port).replaceAll(`127.0.0.1:${a.gw.port}`, `127.0.0.1:${closed}`);
  const root = join(work, 'closed');
  const r = await run('dash', command, `--root ${root}`);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /curl: \(7\) Failed to connect to 127\.0\.0\.1 port \d+/);
  assert.deepEqual(await tree(root).catch(() => ({})), {});
});

test('/trust/setup alone (no checked CA from the command) refuses to run', async () => {
  const script = join(work, 'setup.sh');
  const fetched = await exec('curl', ['-fsS', '--cacert', join(work, 'certs-a', 'ca.crt'), '-o', script, `https://127.0.0.1:${a.gw.port}/trust/setup`]);
  assert.equal(fetched.code, 0, fetched.stderr);
  const r = await exec('dash', [script, '--root', join(work, 'alone')], { env: { ...process.env, CA: '' } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /setup: run the node setup command the gateway prints/);
});

test('serve --long-setup logs the long, self-contained command (the same /trust/ lists)', async () => {
  const { commands } = await logged(long.gw);
  const command = forAddress(commands, long.gw.port);
  assert.match(command, /^sh -c 'f=\$\(mktemp\) && s=\$\(mktemp\)/);
  assert.ok(command.includes(`https://127.0.0.1:${long.gw.port}/trust/install.sh`));
  const index = (await request(`https://127.0.0.1:${long.gw.port}/trust/`, { ca: long.ca })).body.toString();
  assert.ok(index.includes(command));
  const r = await run('dash', command, `--root ${join(work, 'long-node')} --runtimes containers`);
  assert.equal(r.code, 0, r.stderr);
});
