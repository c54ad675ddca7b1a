// What every benchmark measures on: certificates and one user from the
// gateway's own CLI, and a registry holding one manifest over a random layer.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { curl, transfer } from './measure.js';
import type { Stage, System } from './systems.js';

export async function randomFile(path: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  for (let left = size; left > 0;) {
    const chunk = randomBytes(Math.min(left, 4 * 1024 * 1024));
    hash.update(chunk);
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
    left -= chunk.length;
  }
  await new Promise<void>((r) => out.end(() => r()));
  return `sha256:${hash.digest('hex')}`;
}

export function requestJson(
  method: string, url: string, headers: Record<string, string>, body?: Buffer | string, ca?: string,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const client = url.startsWith('https') ? https : http;
    const req = client.request(url, { method, headers, ...(ca ? { ca } : {}) }, (res) => {
      let data = '';
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

export const authHeaders = (s: System): Record<string, string> => (s.auth ? { authorization: s.auth } : {});

export async function startUpload(s: System, repo: string, ca: string): Promise<string> {
  const r = await requestJson('POST', `${s.url}/v2/${repo}/blobs/uploads/`, authHeaders(s), undefined, ca);
  if (r.status !== 202) throw new Error(`${s.name}: upload start answered ${r.status} ${r.body}`);
  return new URL(r.headers.location!, s.url).toString();
}

/** A bearer token for pull and push from a token-mode gateway's /token, as `Bearer …`. */
export async function tokenFor(s: System, ca: string): Promise<string> {
  const service = encodeURIComponent(new URL(s.url).host);
  const reply = await requestJson('GET', `${s.url}/token?service=${service}&scope=repository:bench/app:pull,push`, authHeaders(s), undefined, ca);
  if (reply.status !== 200) throw new Error(`${s.name}: /token answered ${reply.status} ${reply.body}`);
  return `Bearer ${(JSON.parse(reply.body) as { token: string }).token}`;
}

/**
 * Certificates (localhost, 127.0.0.1) and the user (bcrypt cost 10,
 * htpasswd -B's default: what every system verifies) made by `cli`, then
 * bench/app:v1 pushed to `direct`: a config and one random layer of `bytes`.
 */
export async function seedStage(
  stage: Stage, direct: System, cli: string, bytes: number, log: (m: string) => void,
): Promise<{ digest: string; blobFile: string; ca: string }> {
  const run = (args: string[], input?: string) =>
    execFileSync(process.execPath, [cli, ...args], { input, stdio: ['pipe', 'ignore', 'inherit'] });
  run(['certs', 'init', '--dir', stage.certs, '--host', 'localhost', '--host', '127.0.0.1']);
  run(['users', 'add', stage.user, '--password-stdin', '--file', stage.htpasswd, '--cost', '10'], stage.password);
  const ca = readFileSync(join(stage.certs, 'ca.crt'), 'utf8');
  log(`seeding a ${bytes / 1024 / 1024} MiB layer`);
  const blobFile = join(stage.work, 'layer.bin');
  const digest = await randomFile(blobFile, bytes);
  const put = new URL(await startUpload(direct, 'bench/app', ca));
  put.searchParams.set('digest', digest);
  await curl(['-X', 'PUT', '-T', blobFile, '-H', 'Content-Type: application/octet-stream', put.toString()]);
  const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
  const configDigest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
  const cput = new URL(await startUpload(direct, 'bench/app', ca));
  cput.searchParams.set('digest', configDigest);
  await requestJson('PUT', cput.toString(), { 'content-type': 'application/octet-stream' }, config);
  const manifest = JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: bytes }],
  });
  const headers = { 'content-type': 'application/vnd.oci.image.manifest.v1+json' };
  const m = await requestJson('PUT', `${direct.url}/v2/bench/app/manifests/v1`, headers, manifest);
  if (m.status !== 201) throw new Error(`manifest push: ${m.status} ${m.body}`);
  return { digest, blobFile, ca };
}

/**
 * One monolithic PUT and one chunked PATCH (closed by a PUT with the digest) of
 * the layer to `repo`, as curl sends them: bytes per second of each.
 */
export async function uploads(s: System, repo: string, layer: { file: string; digest: string; bytes: number }, ca: string): Promise<{ put: number; patch: number }> {
  const auth = s.auth ? ['-H', `Authorization: ${s.auth}`] : [];
  const putUrl = new URL(await startUpload(s, repo, ca));
  putUrl.searchParams.set('digest', layer.digest);
  const put = await curl([...auth, '-X', 'PUT', '-T', layer.file, '-H', 'Content-Type: application/octet-stream', putUrl.toString()]);
  const patchUrl = await startUpload(s, repo, ca);
  const t0 = performance.now();
  const patched = await transfer([...auth, '-X', 'PATCH', '-T', layer.file, '-H', 'Content-Type: application/octet-stream',
    '-H', 'Transfer-Encoding: chunked', patchUrl]);
  // The PATCH answers with the upload's next URL (its state signed anew); a PUT with the digest closes it.
  const closeUrl = new URL(patched.location ?? patchUrl, s.url);
  closeUrl.searchParams.set('digest', layer.digest);
  await curl([...auth, '-X', 'PUT', '-H', 'Content-Length: 0', closeUrl.toString()]);
  return { put, patch: layer.bytes / ((performance.now() - t0) / 1000) };
}
