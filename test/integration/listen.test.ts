// Where the gateway listens: by default every address, IPv6 and IPv4 on one
// socket; an explicit IPv4 address keeps it to IPv4; on a host without IPv6
// it falls back to IPv4, and the printed setup commands then leave out [::1].
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { validateConfig } from '../../src/config/config.js';
import { onExit } from '../helpers/cleanup.js';
import { exec, gateway as gatewayCli } from '../helpers/exec.js';
import { startGateway, type GatewayProcess } from '../helpers/gateway.js';
import { request } from '../helpers/https.js';
import { freePort, startRegistry } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';

const work = await tempDir();
const certs = join(work, 'certs');
assert.equal((await gatewayCli(['certs', 'init', '--dir', certs, '--host', 'localhost', '--host', '127.0.0.1', '--host', '::1'])).code, 0);
const ca = await readFile(join(certs, 'ca.crt'), 'utf8');
// A real upstream, so that /healthz says 200.
const registry = await startRegistry(work, { storage: join(work, 'storage') });
after(() => registry.stop());
const config = (listen: string) => ({
  listen, upstream: registry.url, auth: { mode: 'none' },
  tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') },
});

const setupCommands = async (gw: GatewayProcess) =>
  (await gw.waitFor((e) => String(e.msg).startsWith('node setup'))).commands as string[];

/** Whether a TCP connection to host:port is accepted. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = connect({ host, port }, () => {
      s.destroy();
      done(true);
    });
    s.once('error', () => done(false));
  });
}

async function withGateway(listen: string, body: (gw: GatewayProcess) => Promise<void>, prefix?: string[]): Promise<void> {
  const gw = await startGateway(work, config(listen), prefix ? { prefix } : {});
  try {
    await body(gw);
  } finally {
    await gw.stop();
  }
}

test('the default listen is every address: [::]:5443', () => {
  assert.equal(validateConfig({}, {}, 'gw.yaml').listen, '[::]:5443');
});

test('[::] answers TLS on 127.0.0.1 and on [::1], and offers a setup command for [::1]', async () => {
  const port = await freePort();
  await withGateway(`[::]:${port}`, async (gw) => {
    for (const origin of [`https://127.0.0.1:${port}`, `https://[::1]:${port}`]) {
      const r = await request(`${origin}/healthz`, { ca });
      assert.equal(r.status, 200, origin);
    }
    assert.ok((await setupCommands(gw)).some((c) => c.includes(`https://[::1]:${port}`)));
    // Written as the config writes it, not ':::PORT'.
    assert.equal((await gw.waitFor((e) => e.msg === 'gateway started')).listen, `[::]:${port}`);
  });
});

test('an explicit 0.0.0.0 listens on IPv4 only, and leaves [::1] out of the setup commands', async () => {
  const port = await freePort();
  await withGateway(`0.0.0.0:${port}`, async (gw) => {
    assert.equal((await request(`https://127.0.0.1:${port}/healthz`, { ca })).status, 200);
    assert.equal(await accepts('::1', port), false);
    const commands = await setupCommands(gw);
    assert.ok(commands.some((c) => c.includes(`https://127.0.0.1:${port}`)));
    assert.deepEqual(commands.filter((c) => c.includes('::1')), []);
  });
});

test('on a host without IPv6, [::] falls back to 0.0.0.0 and no setup command names [::1]', async () => {
  // A network namespace of its own, with IPv6 disabled on every interface.
  const ns = `gwv4-${randomBytes(3).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', ns]);
  const forget = onExit(() => execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }));
  try {
    const inNs = ['ip', 'netns', 'exec', ns];
    for (const key of ['all', 'default', 'lo']) execFileSync(inNs[0]!, [...inNs.slice(1), 'sysctl', '-qw', `net.ipv6.conf.${key}.disable_ipv6=1`]);
    execFileSync(inNs[0]!, [...inNs.slice(1), 'ip', 'link', 'set', 'lo', 'up']);
    const port = await freePort();
    await withGateway(`[::]:${port}`, async (gw) => {
      const started = await gw.waitFor((e) => e.msg === 'gateway started');
      assert.equal(started.listen, `0.0.0.0:${port}`);
      const commands = await setupCommands(gw);
      assert.ok(commands.some((c) => c.includes(`https://127.0.0.1:${port}`)));
      assert.deepEqual(commands.filter((c) => c.includes('::1')), []);
      // And it answers over verified TLS inside the namespace (503: the upstream is outside it).
      const r = await exec(inNs[0]!, [...inNs.slice(1), 'curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}',
        '--cacert', join(certs, 'ca.crt'), `https://127.0.0.1:${port}/healthz`]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '503');
    }, inNs);
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
    forget();
  }
});
