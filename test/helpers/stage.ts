// What most integration files start from: a work directory, a CA and server
// certificate for localhost and 127.0.0.1, and an htpasswd file with users
// (bcrypt cost 4: fast, and still what htpasswd -B writes).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gateway as gatewayCli } from './exec.js';
import { tempDir } from './tmp.js';

export interface Stage {
  work: string;
  certs: string;
  htpasswd: string;
  /** The CA, PEM: what clients trust. */
  ca: string;
  /** The gateway's tls: section. */
  tls: { cert: string; key: string };
}

export async function stage(users: Record<string, string>): Promise<Stage> {
  const work = await tempDir();
  const certs = join(work, 'certs');
  const htpasswd = join(work, 'htpasswd');
  const init = await gatewayCli(['certs', 'init', '--dir', certs, '--host', 'localhost', '--host', '127.0.0.1']);
  assert.equal(init.code, 0, init.stderr);
  for (const [user, password] of Object.entries(users)) {
    const added = await gatewayCli(['users', 'add', user, '--password-stdin', '--min-length', '1', '--file', htpasswd, '--cost', '4'], { input: password });
    assert.equal(added.code, 0, added.stderr);
  }
  return { work, certs, htpasswd, ca: await readFile(join(certs, 'ca.crt'), 'utf8'), tls: { cert: join(certs, 'server.crt'), key: join(certs, 'server.key') } };
}
