// The printed node setup command for a gateway listening on [::1], end to
// end: run by dash (Debian's sh) as a user pastes it, it installs a
// containerd hosts.toml for [::1]:PORT that Debian's real containerd then
// pulls through (`ctr images pull --hosts-dir`), trusting only what it
// installed. Before the case patterns were quoted, that hosts.toml was empty.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { exec, gateway as gatewayCli } from '../helpers/exec.js';
import { startGateway } from '../helpers/gateway.js';
import { buildImage, skopeoPolicy } from '../helpers/oci.js';
import { startRegistry } from '../helpers/registry.js';
import { startContainerd } from '../helpers/containerd.js';
import { tempDir } from '../helpers/tmp.js';

const work = await tempDir();
const certs = join(work, 'certs');
const htpasswd = join(work, 'htpasswd');
assert.equal((await gatewayCli(['certs', 'init', '--dir', certs, '--host', 'localhost', '--host', '::1'])).code, 0);
assert.equal((await gatewayCli(['users', 'add', 'alice', '--password-stdin', '--file', htpasswd], { input: 'alice-pw-long' })).code, 0);
const registry = await startRegistry(work, { storage: join(work, 'storage') });
const gw = await startGateway(work, {
  upstream: registry.url,
  tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') },
  auth: { mode: 'htpasswd', htpasswd },
  access: [{ account: '*', name: '**', actions: ['*'] }],
}, { host: '[::1]' });
after(async () => {
  await gw.stop();
  await registry.stop();
});
const addr = `[::1]:${gw.port}`;

test('the printed setup command for [::1] (run by dash) installs a hosts.toml that containerd pulls through', async () => {
  const setup = await gw.waitFor((e) => Array.isArray(e.commands));
  const command = (setup.commands as string[]).find((c) => c.includes(`https://${addr}/`));
  assert.ok(command, `a command for ${addr}: ${JSON.stringify(setup.commands)}`);
  const root = join(work, 'node');
  const run = await exec('dash', ['-c', `${command} --root ${root} --runtimes containerd`], { cwd: work });
  assert.equal(run.code, 0, run.stderr);
  const certsD = join(root, 'etc', 'containerd', 'certs.d');
  const hostsToml = await readFile(join(certsD, addr, 'hosts.toml'), 'utf8');
  assert.deepEqual(JSON.parse(JSON.stringify(parseToml(hostsToml))), {
    server: `https://${addr}`,
    host: { [`https://${addr}`]: { capabilities: ['pull', 'resolve', 'push'], ca: 'ca.crt' } },
  });

  // An image in the registry (pushed to it directly: only the pull matters here).
  const layout = await buildImage(join(work, 'img'), 'v1', [32 * 1024]);
  const policy = await skopeoPolicy(work);
  const push = await exec('skopeo', ['--policy', policy, 'copy', '--dest-tls-verify=false', `oci:${layout}:v1`,
    `docker://${registry.url.replace(/^http:\/\//, '')}/alice/v6:v1`], { env: { ...process.env, HOME: work, XDG_RUNTIME_DIR: work }, timeoutMs: 300_000 });
  assert.equal(push.code, 0, push.stderr);

  const containerd = await startContainerd(join(work, 'containerd'));
  try {
    const ref = `${addr}/alice/v6:v1`;
    const pull = await containerd.ctr(['images', 'pull', '--hosts-dir', certsD, '--user', 'alice:alice-pw-long', ref]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.match((await containerd.ctr(['images', 'ls', '-q'])).stdout, new RegExp(ref.replace(/[[\].]/g, '\\$&')));
    // What install.sh wrote before the fix: an empty hosts.toml beside the CA. Without its [host] table
    // containerd does not use the CA file, and the same pull fails.
    const broken = join(work, 'broken');
    await mkdir(join(broken, addr), { recursive: true });
    await writeFile(join(broken, addr, 'hosts.toml'), '');
    await writeFile(join(broken, addr, 'ca.crt'), await readFile(join(certsD, addr, 'ca.crt')));
    await containerd.ctr(['images', 'rm', ref]);
    const without = await containerd.ctr(['images', 'pull', '--hosts-dir', broken, '--user', 'alice:alice-pw-long', ref]);
    assert.notEqual(without.code, 0, 'an empty hosts.toml does not trust the gateway');
  } finally {
    await containerd.stop();
  }
});
