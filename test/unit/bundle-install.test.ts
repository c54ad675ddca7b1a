// install.sh on its own: its reading of containerd's config.toml, per config
// version and per installed containerd, against the fixtures of
// test/fixtures/containerd; and what it installs for k3s, run from the
// bundle or piped. A fake `containerd` on PATH stands for the installed
// version (only `containerd --version` is asked).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { parse as parseYaml } from 'yaml';
import { parseAddress } from '../../src/bundle/address.js';
import { renderBundle } from '../../src/bundle/render.js';
import { writeBundle } from '../../src/bundle/write.js';
import { SERVED_BUNDLE_DIR } from '../../src/trust/endpoint.js';
import { exec, ROOT } from '../helpers/exec.js';
import { tempDir } from '../helpers/tmp.js';

const CA = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
const ADDR = 'registry.example.test:5443';
const addresses = [parseAddress(ADDR)];
const work = await tempDir();
const bundle = join(work, 'bundle');
await writeBundle(bundle, renderBundle({ addresses, caPem: CA, outDir: bundle }));
const fixture = (name: string) => readFile(join(ROOT, 'test', 'fixtures', 'containerd', name), 'utf8');
const v16 = await fixture('config-1.6-default.toml');
const v20 = await fixture('config-2.0-default.toml');

let n = 0;
/** install.sh --runtimes containerd on a fresh root holding this config.toml (or none), with this containerd installed. */
async function run(config: string | undefined, containerdVersion: string | undefined) {
  const dir = join(work, `case-${n++}`);
  const bin = join(dir, 'bin');
  await mkdir(bin, { recursive: true });
  // No version line: an installed containerd that does not say its version.
  const line = containerdVersion ? `containerd github.com/containerd/containerd/v2 v${containerdVersion} 0000000` : '';
  await writeFile(join(bin, 'containerd'), `#!/bin/sh\n[ "$1" = --version ] && [ -n "${line}" ] && echo "${line}"\nexit 0\n`);
  await chmod(join(bin, 'containerd'), 0o755);
  const root = join(dir, 'root');
  await mkdir(join(root, 'etc', 'containerd'), { recursive: true });
  if (config !== undefined) await writeFile(join(root, 'etc', 'containerd', 'config.toml'), config);
  const r = await exec('sh', [join(bundle, 'install.sh'), '--root', root, '--runtimes', 'containerd'], { env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
  assert.equal(r.code, 0, r.stderr);
  if (config !== undefined) assert.equal(await readFile(join(root, 'etc', 'containerd', 'config.toml'), 'utf8'), config, 'config.toml is never edited');
  return r.stdout;
}

const lineOf = (text: string, pattern: RegExp) => text.split('\n').findIndex((l) => pattern.test(l)) + 1;
const setLine = (text: string, no: number, content: string) => text.split('\n').map((l, i) => (i === no - 1 ? content : l)).join('\n');
const CRI2 = 'io.containerd.grpc.v1.cri';
const CRI3 = 'io.containerd.cri.v1.images';

/** Does what the advice says to the config, and returns the CRI config_path containerd would then read. */
function follow(config: string, advice: string, plugin: string): string {
  let m = /line (\d+) (?:has|sets) config_path[^\n]*\n[^\n]*change that line to this[^\n]*\n\s*(config_path = "[^"]*")/.exec(advice);
  let out: string;
  if (m) out = setLine(config, Number(m[1]), m[2]!);
  else if ((m = /add this line under \[[^\]]*\] \(line (\d+)\)[^\n]*\n\s*(config_path = "[^"]*")/.exec(advice))) {
    const lines = config.split('\n');
    lines.splice(Number(m[1]), 0, m[2]!);
    out = lines.join('\n');
  } else if ((m = /(?:add this table to it|create it with this)[^\n]*\n((?: {4}[^\n]*\n|\n)+)/.exec(advice))) {
    out = `${config}\n${m[1]!.replace(/^ {4}/gm, '')}`;
  } else {
    return assert.fail(`no advice to follow in:\n${advice}`);
  }
  const parsed = parseToml(out) as any;
  return parsed.plugins[plugin].registry.config_path;
}

test('containerd 1.6, its default config.toml: line 145 has config_path = "" and the advice turns it on', async () => {
  const line = lineOf(v16, /^\s*config_path = ""$/);
  assert.ok(line > 0);
  const out = await run(v16, '1.6.20');
  assert.match(out, new RegExp(`line ${line} has config_path = "", which turns certs\\.d off`));
  assert.match(out, /restart containerd/);
  assert.equal(follow(v16, out, CRI2), '/etc/containerd/certs.d');
});

test('containerd 1.6: a commented-out config_path does not count; the advice adds the line under the existing table', async () => {
  const line = lineOf(v16, /^\s*config_path = ""$/);
  const commented = setLine(v16, line, '      # config_path = "/etc/containerd/certs.d"');
  const out = await run(commented, '1.6.20');
  assert.match(out, new RegExp(`add this line under \\[plugins\\."${CRI2.replace(/\./g, '\\.')}"\\.registry\\] \\(line ${line - 1}\\)`));
  assert.equal(follow(commented, out, CRI2), '/etc/containerd/certs.d');
});

test('containerd 1.6: a real config_path (alone, in a list, as a dotted key) is accepted; another directory is not', async () => {
  const line = lineOf(v16, /^\s*config_path = ""$/);
  assert.doesNotMatch(await run(setLine(v16, line, '      config_path = "/etc/containerd/certs.d"'), '1.6.20'), /containerd:/);
  assert.doesNotMatch(await run(setLine(v16, line, "      config_path = '/etc/containerd/certs.d:/etc/docker/certs.d' # both"), '1.6.20'), /containerd:/);
  const dotted = 'version = 2\n[plugins]\n  "io.containerd.grpc.v1.cri".registry.config_path = "/etc/containerd/certs.d/"\n';
  assert.doesNotMatch(await run(dotted, '1.6.20'), /containerd:/);
  const other = setLine(v16, line, '      config_path = "/etc/other.d"');
  const out = await run(other, '1.6.20');
  assert.match(out, new RegExp(`line ${line} sets config_path = "/etc/other.d", which does not include /etc/containerd/certs\\.d`));
  assert.equal(follow(other, out, CRI2), '/etc/other.d:/etc/containerd/certs.d');
});

test('containerd 1.6: config_path in another plugin (the transfer service) does not count', async () => {
  const config = 'version = 2\n[plugins."io.containerd.transfer.v1.local"]\n  config_path = "/etc/containerd/certs.d"\n';
  const out = await run(config, '1.6.20');
  assert.match(out, /does not set config_path, and containerd 1\.6 then ignores/);
  assert.match(out, /add this table to it/);
  assert.equal(follow(config, out, CRI2), '/etc/containerd/certs.d');
});

test('containerd 1.6: old registry.mirrors entries are named, since containerd refuses them beside config_path', async () => {
  const line = lineOf(v16, /registry\.mirrors\]$/);
  const lines = v16.split('\n');
  lines.splice(line, 0, '        [plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]', '          endpoint = ["https://mirror.example.test"]');
  const out = await run(lines.join('\n'), '1.6.20');
  assert.match(out, new RegExp(`first move the \\[[^\\]]+\\.mirrors\\] entries \\(line ${line + 1}\\) into hosts\\.toml`));
});

test('containerd 2.0, its default config.toml (version = 3): the CRI images table\'s config_path = \'\' is found, not the transfer service\'s', async () => {
  const cri = lineOf(v20, /^\s*config_path = ''$/);
  const transfer = v20.split('\n').map((l) => /config_path = ''/.test(l)).lastIndexOf(true) + 1;
  assert.ok(cri > 0 && transfer > cri, 'the fixture has both');
  const out = await run(v20, '2.0.0');
  assert.match(out, new RegExp(`line ${cri} has config_path = ""`));
  assert.equal(follow(v20, out, CRI3), '/etc/containerd/certs.d');
  // A real path in the transfer service only still leaves Kubernetes pulls without certs.d.
  const transferOnly = setLine(v20, transfer, "    config_path = '/etc/containerd/certs.d'");
  assert.match(await run(transferOnly, '2.0.0'), new RegExp(`line ${cri} has config_path = ""`));
});

test('containerd 2.x: without config_path 2.0 and 2.1 need the version 3 table, 2.2 reads certs.d by default; an explicit \'\' is off on 2.2 too', async () => {
  const start = lineOf(v20, /cri\.v1\.images'\.registry\]$/);
  const noTable = v20.split('\n').filter((_, i) => i !== start - 1 && i !== start).join('\n');
  const out = await run(noTable, '2.0.0');
  assert.match(out, /add this table to it/);
  assert.match(out, /\[plugins\."io\.containerd\.cri\.v1\.images"\.registry\]/);
  assert.equal(follow(noTable, out, CRI3), '/etc/containerd/certs.d');
  assert.doesNotMatch(await run(noTable, '2.2.0'), /containerd:/);
  assert.match(await run(v20, '2.2.1'), /has config_path = "", which turns certs\.d off/);
});

test('a version = 2 config.toml on containerd 2.x is read at its own table (containerd migrates it); version = 3 on 1.x is refused', async () => {
  assert.match(await run(v16, '2.1.0'), new RegExp(`line ${lineOf(v16, /^\s*config_path = ""$/)} has config_path = ""`));
  assert.match(await run(v20, '1.7.27'), /has version = 3, which containerd 1\.7 cannot read/);
});

test('no config.toml: the exact file to create, with its version line, for the installed containerd', async () => {
  const v1 = await run(undefined, '1.6.20');
  assert.match(v1, /create it with this[^\n]*\n {4}version = 2\n\n {4}\[plugins\."io\.containerd\.grpc\.v1\.cri"\.registry\]\n {6}config_path = "\/etc\/containerd\/certs\.d"/);
  assert.equal(follow('', v1, CRI2), '/etc/containerd/certs.d');
  const v2 = await run(undefined, '2.1.3');
  assert.match(v2, /create it with this[^\n]*\n {4}version = 3\n\n {4}\[plugins\."io\.containerd\.cri\.v1\.images"\.registry\]/);
  assert.equal(parseToml(/create it with this[^\n]*\n((?: {4}[^\n]*\n|\n)+)/.exec(v2)![1]!.replace(/^ {4}/gm, '')).version, 3);
  assert.doesNotMatch(await run(undefined, '2.2.0'), /containerd:/);
  const unknown = await run(undefined, undefined);
  assert.match(unknown, /for containerd 1\.x create it with:\n {4}version = 2/);
  assert.match(unknown, /for containerd 2\.0 or 2\.1 create it with:\n {4}version = 3/);
});

// --- k3s, from a --client-cert bundle.
const clientBundle = join(work, 'client-bundle');
await writeBundle(clientBundle, renderBundle({ addresses, caPem: CA, outDir: clientBundle, client: { certPem: 'CERT\n', keyPem: 'KEY\n', node: 'n1' } }));

/** registries.yaml as installed under root, and whether every file it names is there. */
async function k3sResult(root: string) {
  const reg = parseYaml(await readFile(join(root, 'etc', 'rancher', 'k3s', 'registries.yaml'), 'utf8'));
  const tls = reg.configs[ADDR].tls as Record<string, string>;
  for (const [key, path] of Object.entries(tls)) assert.ok(existsSync(join(root, path)), `${key} ${path} exists under the root`);
  assert.ok(tls.ca_file!.startsWith('/etc/rancher/k3s/certs.d/'), 'where the k3s runtime\'s registries.yaml points');
  return tls;
}

test('k3s from a --client-cert bundle: run from the bundle, install.sh installs the client pair registries.yaml names', async () => {
  const root = join(work, 'k3s-file');
  const r = await exec('sh', [join(clientBundle, 'install.sh'), '--root', root, '--runtimes', 'k3s']);
  assert.equal(r.code, 0, r.stderr);
  const tls = await k3sResult(root);
  assert.equal(tls.cert_file, `/etc/rancher/k3s/certs.d/${ADDR}/client.cert`);
  assert.equal(await readFile(join(root, tls.key_file!), 'utf8'), 'KEY\n');
  assert.doesNotMatch(r.stdout, /not installed/);
});

test('k3s from a --client-cert bundle, piped: without --bundle it references only the CA and says what is missing; with --bundle it installs all', async () => {
  const script = await readFile(join(clientBundle, 'install.sh'), 'utf8');
  const ca = join(clientBundle, 'k3s', 'certs.d', ADDR, 'ca.crt');
  const bare = join(work, 'k3s-piped');
  const piped = await exec('sh', ['-s', '--', '--root', bare, '--runtimes', 'k3s', '--ca', ca], { input: script, cwd: work });
  assert.equal(piped.code, 0, piped.stderr);
  const tls = await k3sResult(bare);
  assert.deepEqual(Object.keys(tls), ['ca_file'], 'no cert_file/key_file pointing at missing files');
  assert.match(piped.stdout, /client certificate for node n1 not installed \(a piped install\.sh cannot see the bundle\): pass --bundle DIR/);
  assert.match(piped.stdout, new RegExp(`Missing: /etc/rancher/k3s/certs\\.d/${ADDR}/client\\.cert`));
  const full = join(work, 'k3s-piped-bundle');
  const withBundle = await exec('sh', ['-s', '--', '--root', full, '--runtimes', 'k3s', '--bundle', clientBundle], { input: script, cwd: work });
  assert.equal(withBundle.code, 0, withBundle.stderr);
  assert.deepEqual(Object.keys(await k3sResult(full)).sort(), ['ca_file', 'cert_file', 'key_file']);
  assert.doesNotMatch(withBundle.stdout, /not installed/);
  // Piped with neither --ca nor --bundle: nothing to install from, and it says which option to pass.
  const none = await exec('sh', ['-s', '--', '--root', join(work, 'k3s-none'), '--runtimes', 'k3s'], { input: script, cwd: work });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /piped, so there is no bundle to take ca\.crt from: pass --ca FILE or --bundle DIR/);
  assert.ok(!existsSync(join(work, 'k3s-none')));
});

test('k3s --dry-run from the bundle counts the client files it would install as referenced', async () => {
  const root = join(work, 'k3s-dry');
  const r = await exec('sh', [join(clientBundle, 'install.sh'), '--root', root, '--runtimes', 'k3s', '--dry-run']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /would write .*registries\.yaml/);
  assert.doesNotMatch(r.stdout, /left out of registries\.yaml/);
  assert.ok(!existsSync(root));
});

// --- The served (piped) install.sh for every address form, under dash and bash.
const FORMS = ['registry.example.test:5443', 'registry.example.test:443', '192.0.2.10:5443', '[::1]:5443', '[2001:db8::1]:443'];

test('piped install.sh writes the right hosts.toml for a DNS name, IPv4, bracketed IPv6 and a port, under dash and under bash', async () => {
  const forms = FORMS.map(parseAddress);
  const served = renderBundle({ addresses: forms, caPem: CA, outDir: SERVED_BUNDLE_DIR });
  const script = served.find((f) => f.path === 'install.sh')!.content;
  const ca = join(work, 'forms-ca.crt');
  await writeFile(ca, served.find((f) => f.path === `containerd/certs.d/${forms[0]!.name}/ca.crt`)!.content);
  // Where `for addr in $ADDRESSES` would glob [::1]:5443 into this file's name, were globbing on.
  const cwd = join(work, 'forms-cwd');
  await mkdir(cwd, { recursive: true });
  await writeFile(join(cwd, '1:5443'), '');
  for (const shell of ['dash', 'bash']) {
    const root = join(work, `forms-${shell}`);
    const r = await exec(shell, ['-s', '--', '--root', root, '--runtimes', 'containerd', '--ca', ca], { input: script, cwd });
    assert.equal(r.code, 0, `${shell}: ${r.stderr}`);
    for (const a of forms) {
      const file = join(root, 'etc', 'containerd', 'certs.d', a.name, 'hosts.toml');
      const text = await readFile(file, 'utf8');
      assert.notEqual(text.length, 0, `${shell}: ${a.name}/hosts.toml is empty`);
      const parsed = parseToml(text) as { server: string; host: Record<string, { ca: string }> };
      assert.equal(parsed.server, `https://${a.name}`, `${shell}: ${a.name}`);
      assert.deepEqual(Object.keys(parsed.host), [`https://${a.name}`]);
      assert.equal(parsed.host[`https://${a.name}`]!.ca, 'ca.crt');
    }
    assert.ok(!existsSync(join(root, 'etc', 'containerd', 'certs.d', '1:5443')), `${shell}: no address was globbed`);
  }
  assert.deepEqual(forms.map((a) => a.name), ['registry.example.test:5443', 'registry.example.test', '192.0.2.10:5443', '[::1]:5443', '[2001:db8::1]']);
});
