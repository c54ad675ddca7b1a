// Token mode follows its key files without a signal (src/token/mode.ts), as
// replicas sharing them must: `gateway token rotate`, a retired certificate
// deleted, and never a key of its own made halfway through a rotation.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { Writable } from 'node:stream';
import { existsSync } from 'node:fs';
import { readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { policyFor } from '../../src/auth/policy.js';
import { createThrottle } from '../../src/auth/throttle.js';
import { setUser } from '../../src/auth/users.js';
import { initCerts } from '../../src/certs/init.js';
import { inAuthMode, validateConfig } from '../../src/config/config.js';
import { clientAddress } from '../../src/proxy/handler.js';
import { AUTH_MODES } from '../../src/server/authModes.js';
import { loadKeyRing, rotateSigningKey } from '../../src/token/keyring.js';
import { tokenSettings, watchKeyFiles } from '../../src/token/mode.js';
import { mintAccessToken } from '../../src/token/tokens.js';
import { createLogger } from '../../src/util/log.js';
import { tempDir } from '../helpers/tmp.js';

const work = await tempDir('gw-keys-');
const certs = join(work, 'certs');
await initCerts({ dir: certs, hosts: ['localhost'], caDays: 30, days: 10, nameConstraints: true, force: false, newCa: false },
  { now: new Date(), creator: 'test', warn: () => undefined });
const htpasswd = join(work, 'htpasswd');
await setUser(htpasswd, 'alice', 'alice-pw', 4, 'add');
const keyPath = join(certs, 'token.key');

const lines: Record<string, unknown>[] = [];
const log = createLogger(new Writable({
  write(chunk, _e, done) {
    for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
    done();
  },
}));
const config = validateConfig({ auth: { mode: 'token', htpasswd, token: { service: 'reg.test', signingKey: keyPath } } }, {}, 'test');
assert.ok(inAuthMode(config, 'token'));
const mode = await AUTH_MODES.token({
  config, policy: policyFor(config.access, 'token'), log, publicOrigin: () => 'https://reg.test', clientAddress,
  throttle: (_n, limit, windowMs) => createThrottle(limit, windowMs),
});
after(() => mode.close());

const settings = tokenSettings(config.auth.token);
const mint = async () => (await mintAccessToken(await loadKeyRing(keyPath), settings, 'alice', [])).token;
/** What the running mode's controller says of a token at /v2/. */
const verdict = async (token: string) => {
  const req = { headers: { authorization: `Bearer ${token}` }, headersDistinct: { authorization: [`Bearer ${token}`] } } as unknown as IncomingMessage;
  return (await mode.controller.authorized(req, [])).kind;
};
const seen = (msg: string) => lines.filter((l) => l.msg === msg).length;
async function until(ok: () => boolean | Promise<boolean>, ms = 8000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
const RELOADED = 'token keys changed on disk: reloaded';

test('the watch sees the key, its certificate and retired certificates come and go; not other files', async () => {
  let changes = 0;
  const stop = watchKeyFiles(config.auth.token, () => changes++, 100);
  try {
    await new Promise((r) => setTimeout(r, 300));
    await writeFile(join(certs, 'unrelated.txt'), 'x');
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(changes, 0);
    await writeFile(join(certs, 'token-20260101T000000.crt'), 'not yet parsed by the watch');
    await until(() => changes > 0, 2000);
    const after1 = changes;
    await rm(join(certs, 'token-20260101T000000.crt'));
    await until(() => changes > after1, 2000);
  } finally {
    stop();
    await rm(join(certs, 'unrelated.txt'), { force: true });
  }
});

test('rotate and delete the retired key: the running mode follows without reload(), old tokens refused, new ones verified', async () => {
  const old = await mint();
  assert.equal(await verdict(old), 'grant');
  const marks = seen(RELOADED);
  await rotateSigningKey(keyPath, certs);
  await until(() => seen(RELOADED) > marks);
  const fresh = await mint();
  assert.equal(await verdict(fresh), 'grant', 'the new key verifies');
  assert.equal(await verdict(old), 'grant', 'the retired key still verifies its tokens');
  for (const f of (await readdir(certs)).filter((n) => /^token-\d{8}T\d{6}\.(key|crt)$/.test(n))) await rm(join(certs, f));
  await until(async () => (await verdict(old)) === 'challenge');
  assert.equal(await verdict(fresh), 'grant');
});

test('halfway through a rotation (the key gone): no key is made, the current keys stay, and the finished files load', async () => {
  const token = await mint();
  const away = join(work, 'token.key.away');
  const warnings = lines.length;
  await rename(keyPath, away);
  await until(() => lines.slice(warnings).some((l) => String(l.msg).includes('do not load')));
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(existsSync(keyPath), false, 'the watch never creates a signing key');
  assert.equal(await verdict(token), 'grant', 'the keys loaded last still verify');
  const marks = seen(RELOADED);
  await rename(away, keyPath);
  await until(() => seen(RELOADED) > marks);
  assert.equal(await verdict(token), 'grant');
});
