// src/trust/setup.ts on its own: the short command for each address form,
// and /trust/setup as a script (POSIX sh, install.sh inside unchanged, the
// checked CA written back byte for byte). test/integration/trust-setup.test.ts
// runs both against real gateways.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAddress } from '../../src/bundle/address.js';
import { renderBundle } from '../../src/bundle/render.js';
import { setupScript, shortCommand } from '../../src/trust/setup.js';
import { exec } from '../helpers/exec.js';
import { tempDir } from '../helpers/tmp.js';

const CA = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
const sha = createHash('sha256').update(CA).digest('hex');
const work = await tempDir();

test('the short command: the address\'s URLs, the pin, under 500 characters for every address form', () => {
  for (const name of ['registry.example.test:5443', '10.0.0.5:5443', '[fd00::5]:5443', 'a-rather-long-name.cluster.internal:8443']) {
    const c = shortCommand(parseAddress(name), sha);
    assert.ok(c.length < 500, `${c.length}: ${c}`);
    assert.ok(c.includes(`curl -fsSk https://${name}/trust/ca.crt)`), c);
    assert.ok(c.includes(`--cacert /dev/stdin https://${name}/trust/setup)`), c);
    assert.ok(c.includes(`= "${sha}  -" ]`), c);
    assert.match(c, /^sh -c '[^']+' setup$/);
  }
});

test('the hash the command compares is the file\'s: printf puts back the newline $(...) drops', async () => {
  const r = await exec('sh', ['-c', 'c=$(cat "$1"); printf "%s\\n" "$c" | sha256sum', 'sh', await written('ca.crt', CA)]);
  assert.equal(r.stdout, `${sha}  -\n`);
});

async function written(name: string, content: string): Promise<string> {
  const path = join(work, name);
  await writeFile(path, content);
  return path;
}

test('/trust/setup: valid sh and bash, carries install.sh unchanged, and installs the CA it is given, byte for byte', async () => {
  const install = renderBundle({ addresses: [parseAddress('registry.example.test:5443')], caPem: CA, outDir: '/opt/x' })
    .find((f) => f.path === 'install.sh')!.content;
  const script = setupScript(String(install));
  assert.ok(script.includes(`\n${install}`));
  const path = await written('setup', script);
  for (const shell of ['sh', 'bash']) assert.equal((await exec(shell, ['-n', path])).code, 0, shell);
  const root = join(work, 'root');
  const r = await exec('sh', ['-c', script, 'setup', '--root', root, '--runtimes', 'containers'], { env: { ...process.env, CA: CA.trimEnd() } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await readFile(join(root, 'etc/containers/certs.d/registry.example.test:5443/ca.crt'), 'utf8'), CA);
  // install.sh's own pin: a CA other than the one it was made for is refused, even through /trust/setup.
  const other = await exec('sh', ['-c', script, 'setup', '--root', join(work, 'other'), '--runtimes', 'containers'],
    { env: { ...process.env, CA: CA.replace('fake', 'evil').trimEnd() } });
  assert.notEqual(other.code, 0);
});

test('an install.sh holding the here-document\'s end line is refused, not cut short', () => {
  assert.throws(() => setupScript('#!/bin/sh\necho a\nREGISTRY_GATEWAY_INSTALL_SH\necho b\n'), /holds the line REGISTRY_GATEWAY_INSTALL_SH/);
});
