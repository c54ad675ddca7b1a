// `gateway deploy container --out DIR`: a directory one podman or docker
// container of the image mounts as it is: gateway.yaml with the image's paths
// (/etc/gateway/...), the server certificate and key, the CA for /trust/, the
// users, and the token key in token mode; never ca.key. Every file is readable
// by the image's uid 65532: owned by it when written as root (rootful
// podman), else by you, for rootless podman's --userns keep-id:uid=65532. The
// run commands it prints carry the flags a stock Debian host needs.
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { readHtpasswd } from '../auth/htpasswd.js';
import { DEFAULT_UPSTREAM } from '../config/config.js';
import { exists } from '../certs/store.js';
import { fail } from '../errors.js';
import { checkOut } from './outDir.js';
import { configSets, containerConfig, readUserConfig } from '../deploy/containerConfig.js';
import { retiredTokenCerts, tlsInputs, tokenInputs, type InputFile } from '../deploy/inputs.js';
import { builtImage } from '../deploy/builtImage.js';
import { MOUNTS, OUT } from '../deploy/layout.js';
import type { Output } from './output.js';

import { DEFAULT_CONFIG } from './options.js';
/** The image's user (scripts/image.sh: --config.user 65532:65532). */
export const IMAGE_UID = 65532;
/** The first line of the README it writes: how --force knows a directory is ours to replace. */
const MARKER = '# Written by `gateway deploy container`';

export type ContainerOptions = {
  out: string; config?: string; certs?: string; htpasswd?: string; upstream?: string; image?: string; force?: boolean;
};
interface File { path: string; content: string | Buffer; mode: number }

const isLoopback = (url: string) => /^https?:\/\/(localhost|127\.[\d.]+|\[::1\])(:|\/|$)/.test(url);

async function read(file: InputFile, hint: string): Promise<File> {
  try {
    return { path: file.to, content: await readFile(file.from), mode: file.mode };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code ?? (err as Error).message;
    return fail(code === 'ENOENT' ? 'FILE_MISSING' : 'FILE_INVALID', `cannot read ${file.from} (${why}); ${hint}`);
  }
}

/** Hard limits of this process: podman's own defaults (1048576 files, 4194304 processes) need CAP_SYS_RESOURCE to set. */
async function hardLimits(): Promise<{ nofile: number; nproc: number }> {
  const text = await readFile('/proc/self/limits', 'utf8').catch(() => '');
  const hard = (name: string, cap: number) => {
    const v = text.split('\n').find((l) => l.startsWith(name))?.slice(name.length).trim().split(/\s+/)[1];
    return v === undefined || v === 'unlimited' ? cap : Math.min(Number(v), cap);
  };
  return { nofile: hard('Max open files', 1_048_576), nproc: hard('Max processes', 32_768) };
}

/**
 * The podman commands for this directory: rootful and rootless, with why each flag is there.
 * test/integration/podman-rootless.test.ts runs the rootless one as a fresh user, as printed.
 */
export function runCommands(o: {
  dir: string; image: string; hostNetwork: boolean; folders: string[]; nofile: number; nproc: number;
}): string {
  const mounts = o.folders.map((f) => `-v ${o.dir}/${f}:/etc/gateway/${f}:ro`).join(' ');
  const net = o.hostNetwork ? '--network host' : '-p 5443:5443';
  const limits = `--ulimit nofile=${o.nofile}:${o.nofile} --ulimit nproc=${o.nproc}:${o.nproc}`;
  const run = 'podman --runtime runc run -d --name registry-gateway --read-only';
  return [
    'Rootful (as root; the files are owned by uid 65532, the image\'s user):',
    `  ${run} ${limits} ${net} --user ${IMAGE_UID}:${IMAGE_UID} ${mounts} ${o.image}`,
    'Rootless (as the user who owns the files, with a range in /etc/subuid and /etc/subgid; keep-id maps you to uid 65532 inside):',
    `  ${run} ${net} --userns keep-id:uid=${IMAGE_UID},gid=${IMAGE_UID} ${mounts} ${o.image}`,
    'Why the flags:',
    '  --runtime runc        (a podman option, before run) Debian 12\'s crun (1.8) stops with "cgroups in hybrid mode not ' +
      'supported" on a host with cgroup v1 controllers beside v2, rootful or rootless; runc starts',
    '  --ulimit nofile/nproc (rootful) podman otherwise asks for 1048576 files and 4194304 processes, which needs CAP_SYS_RESOURCE: ' +
      'these are this host\'s hard limits. Rootless podman gives the container your own limits: no flag',
    '  --read-only           the gateway writes nothing (no ca.key here, so no renewal: it warns 30 days ahead)',
    o.hostNetwork
      ? '  --network host        the upstream is on this host\'s loopback, which a container reaches only on the host\'s network; ' +
        'listens on 5443'
      : '  -p 5443:5443          the gateway\'s port (rootless: through slirp4netns; a port under 1024 would need ' +
        'net.ipv4.ip_unprivileged_port_start)',
    '  --userns keep-id:uid=65532,gid=65532  (rootless, podman 4.3 or later) you are uid 65532 inside, so the gateway reads ' +
      'your 0600 files; podman refuses it without a subordinate range for you ("keep-id requires additional UIDs or GIDs")',
    'Then: podman logs -f registry-gateway; stop with podman stop registry-gateway (it drains, then exits 0).',
  ].join('\n');
}


/** All of it or none: a staging sibling renamed into place. As root, owned by uid:gid 65532. */
async function writeTree(out: string, files: readonly File[], replacing: boolean): Promise<boolean> {
  const staging = `${out}.tmp-${randomBytes(4).toString('hex')}`;
  await mkdir(dirname(out), { recursive: true });
  await mkdir(staging, { mode: 0o700 });
  const owner = process.getuid?.() === 0 ? IMAGE_UID : undefined;
  try {
    const dirs = new Set<string>();
    for (const f of files) {
      const path = join(staging, f.path);
      for (let d = dirname(path); d !== staging && !dirs.has(d); d = dirname(d)) dirs.add(d);
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      await writeFile(path, f.content, { mode: f.mode, flag: 'wx' });
      await chmod(path, f.mode);
      if (owner !== undefined) await chown(path, owner, owner);
    }
    for (const d of [...dirs, staging]) {
      await chmod(d, 0o700);
      if (owner !== undefined) await chown(d, owner, owner);
    }
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
  if (replacing) {
    const old = `${out}.old-${randomBytes(4).toString('hex')}`;
    await rename(out, old);
    await rename(staging, out);
    await rm(old, { recursive: true, force: true });
  } else {
    await rm(out, { recursive: true, force: true });
    await rename(staging, out);
  }
  return owner !== undefined;
}

export async function container(version: string, o: ContainerOptions, io: Output): Promise<void> {
  const out = resolve(o.out);
  const replacing = (await checkOut(out, Boolean(o.force), o.out,
    { command: 'gateway deploy container', file: 'README.txt', marker: MARKER })) === 'replace';
  const configPath = o.config ?? ((await exists(DEFAULT_CONFIG)) ? DEFAULT_CONFIG : undefined);
  const text = configPath === undefined ? undefined : await readFile(configPath, 'utf8').catch((err: NodeJS.ErrnoException) =>
    fail('FILE_MISSING', `cannot read config ${configPath} (${err.code ?? err.message}); pass the gateway's config with --config FILE`));
  const source = configPath ?? 'the defaults (no config/gateway.yaml)';
  const user = readUserConfig(text, source);
  const upstream = o.upstream ?? user.upstream ?? DEFAULT_UPSTREAM;
  const hostNetwork = isLoopback(upstream);

  const certsDir = o.certs ?? dirname(user.tls.cert);
  const cert = o.certs ? join(o.certs, 'server.crt') : user.tls.cert;
  const key = o.certs ? join(o.certs, 'server.key') : user.tls.key;
  const hint = `run 'gateway certs init --dir ${certsDir}' (or npm start once) first, or point --certs at the directory holding them`;
  const present = await readdir(certsDir).catch(() => [] as string[]);
  const files: File[] = [];
  for (const f of tlsInputs(cert, key, certsDir, present)) files.push(await read(f, hint));
  if (!present.includes('ca.crt')) io.warn(`no ca.crt in ${certsDir}: /trust/ is off in the container`);
  let clientCA: string | undefined;
  if (user.tls.clientCA !== undefined) {
    files.push(await read({ from: user.tls.clientCA, to: `${OUT.certs}/client-ca.crt`, mode: 0o644 }, 'fix tls.clientCA in the config'));
    clientCA = `${MOUNTS.certs}/client-ca.crt`;
  }
  const htpasswd = o.htpasswd ?? user.auth.htpasswd;
  if (user.auth.mode !== 'none') {
    const users = await readHtpasswd(htpasswd);
    if (users.users.size === 0) io.warn(`${htpasswd} holds no users: nobody can log in until 'gateway users add NAME --file ${htpasswd}'`);
    files.push(await read({ from: htpasswd, to: `${OUT.users}/htpasswd`, mode: 0o600 }, 'fix --htpasswd'));
  }
  let verifyKeys: string[] | undefined;
  if (user.auth.mode === 'token') {
    const signingKey = configSets(text, ['auth', 'token', 'signingKey']) ? user.auth.token.signingKey : join(certsDir, 'token.key');
    const { ensureSigningKey, certPathFor } = await import('../token/keyring.js');
    const certPath = certPathFor(signingKey);
    if (await ensureSigningKey(signingKey, certsDir)) io.out(`created ${signingKey} and ${certPath} (the token signing key)`);
    const keyDir = dirname(signingKey);
    const retired = retiredTokenCerts(signingKey, await readdir(keyDir));
    const token = tokenInputs(signingKey, certPath, retired, user.auth.token.verifyKeys, keyDir);
    for (const f of token.files) files.push(await read(f, 'fix auth.token in the config'));
    verifyKeys = token.verifyKeys;
  }
  const rewritten = containerConfig(text, {
    source, file: configPath, upstream, redis: false, clientCA, target: 'container', ...(verifyKeys ? { verifyKeys } : {}),
  });
  rewritten.notes.forEach((n) => io.out(`note: ${n}`));
  files.push({ path: `${OUT.config}/gateway.yaml`, content: rewritten.text, mode: 0o644 });

  const shown = relative(process.cwd(), out) || '.';
  const folders = [...new Set(files.map((f) => f.path.split('/')[0]!))].sort();
  const limits = await hardLimits();
  // The image built here, by the name the README's skopeo copy gives it in the engine's storage.
  const built = await builtImage();
  const image = o.image ?? `registry-gateway:${built?.tag ?? version}`;
  const commands = runCommands({ dir: out, image, hostNetwork, folders, ...limits });
  files.push({ path: 'README.txt', mode: 0o644, content: `${MARKER} ${version} from ${source}.\n` +
    `Mounted read-only at /etc/gateway/{${folders.join(',')}} by the image's container (uid ${IMAGE_UID}). No ca.key.\n\n${commands}\n` });
  const owned = await writeTree(out, files, replacing);
  io.out(`wrote ${shown}: ${files.length} files, upstream ${upstream}; ` +
    (owned ? `owned by uid ${IMAGE_UID} (directories 0700, keys and users 0600)`
      : `owned by you (uid ${process.getuid?.()}): use the rootless command`));
  if (hostNetwork) io.out(`note: the upstream ${upstream} is on this host's loopback: the container uses the host's network to reach it`);
  io.out(commands);
}
