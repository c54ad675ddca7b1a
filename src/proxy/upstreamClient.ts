// upstream.ca, upstream.cert/key and upstream.username/passwordFile read into
// what createUpstream takes: the files are read once at start, and a file that
// cannot be read (or is not PEM) stops the start with the setting to fix.
import { readFile } from 'node:fs/promises';
import type { UpstreamClient } from '../config/config.js';
import { fail } from '../errors.js';
import { readPasswordFile } from '../shared/password.js';
import type { UpstreamAccess } from './upstream.js';

async function pem(path: string, setting: string, marker: RegExp): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code ?? (err as Error).message;
    return fail(code === 'ENOENT' ? 'FILE_MISSING' : 'FILE_INVALID', `cannot read ${setting} ${path}: ${why}; fix ${setting}`);
  }
  if (!marker.test(text)) fail('FILE_INVALID', `${setting} ${path} is not a PEM file (no ${marker.source}); fix ${setting}`);
  return text;
}

export async function upstreamAccess(client: UpstreamClient): Promise<UpstreamAccess> {
  const tls: NonNullable<UpstreamAccess['tls']> = {};
  if (client.ca) tls.ca = await pem(client.ca, 'upstream.ca', /-----BEGIN CERTIFICATE-----/);
  if (client.cert) tls.cert = await pem(client.cert, 'upstream.cert', /-----BEGIN CERTIFICATE-----/);
  if (client.key) tls.key = await pem(client.key, 'upstream.key', /-----BEGIN [A-Z ]*PRIVATE KEY-----/);
  let authorization: string | undefined;
  if (client.username && client.passwordFile) {
    const password = await readPasswordFile(client.passwordFile, 'upstream.passwordFile', 'upstream registry');
    authorization = `Basic ${Buffer.from(`${client.username}:${password}`).toString('base64')}`;
  }
  return { tls, ...(authorization ? { authorization } : {}) };
}
