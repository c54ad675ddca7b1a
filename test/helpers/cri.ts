// A Kubernetes node without the kubelet: Debian's containerd with its CRI
// plugin, started on a node root's /etc/containerd, and the one gRPC call the
// kubelet makes to pull (runtime.v1.ImageService/PullImage, with the
// AuthConfig it builds from an imagePullSecret).
//
// containerd runs in a test network namespace (the registry's address there
// is not loopback, so TLS is verified for real) and in a private mount
// namespace where /etc, /opt and /var/lib are overlays whose writes land in
// a tmpfs of that namespace, and /etc/containerd (and any other path asked for,
// such as k3s's /var/lib/rancher) is the node root's: config.toml is read
// exactly as written (absolute paths included, config_path among them), and
// nothing containerd creates (the CRI plugin makes its CNI conf_dir, the
// default config names /opt/containerd) reaches the machine's own /etc, /opt
// or /var/lib. Every mount dies with the daemon's mount namespace.
import { spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { parse as parseYaml } from 'yaml';
import { exec } from './exec.js';
import { onExit } from './cleanup.js';

const API_PROTO = fileURLToPath(new URL('./cri-images.proto', import.meta.url));

export interface CriContainerd {
  sock: string;
  log: () => string;
  cri: CriClient;
  stop: () => Promise<void>;
}

/**
 * Starts containerd on the node's config.toml (`config`, an absolute path on
 * the node: /etc/containerd/config.toml unless said), inside the network
 * namespace `netns`, with root, state and socket under `dir` (removed by
 * stop()). `nodePaths` (default /etc/containerd) are the node root's
 * directories seen at their absolute paths.
 */
export async function startCriContainerd(opts: {
  nodeRoot: string; dir: string; netns: string; nodePaths?: string[]; config?: string;
}): Promise<CriContainerd> {
  const { nodeRoot, dir, netns } = opts;
  const layers = { etc: '/etc', opt: '/opt', varlib: '/var/lib' };
  // The overlays' upper and work directories are on a tmpfs of the namespace's own: overlayfs takes
  // no overlayfs as upper (a CI container's /tmp may be one), and the tmpfs goes with the namespace.
  const scratch = join(dir, 'layers');
  await mkdir(scratch, { recursive: true });
  const nodePaths = opts.nodePaths ?? ['/etc/containerd'];
  for (const p of nodePaths) {
    if (!Object.values(layers).some((l) => p.startsWith(`${l}/`))) throw new Error(`${p} is not under ${Object.values(layers).join(', ')}`);
    await mkdir(join(nodeRoot, p), { recursive: true });
  }
  const sock = join(dir, 'containerd.sock');
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const overlay = (target: string, name: string) => [
    `mkdir ${q(join(scratch, `${name}-upper`))} ${q(join(scratch, `${name}-work`))}`,
    `mount -t overlay overlay -o lowerdir=${target},upperdir=${q(join(scratch, `${name}-upper`))},workdir=${q(join(scratch, `${name}-work`))} ${target}`,
  ];
  const script = [
    `mount -t tmpfs -o size=64m,mode=0700 gwtest-layers ${q(scratch)}`,
    ...Object.entries(layers).flatMap(([name, target]) => overlay(target, name)),
    ...nodePaths.flatMap((p) => [`mkdir -p ${q(p)}`, `mount --bind ${q(join(nodeRoot, p))} ${q(p)}`]),
    `exec containerd --config ${q(opts.config ?? '/etc/containerd/config.toml')} --root ${q(join(dir, 'root'))} --state ${q(join(dir, 'state'))} --address ${q(sock)}`,
  ].join(' && ');
  // ip netns exec and unshare exec in turn, and sh execs containerd: the child's pid is containerd's.
  const daemon = spawn('ip', ['netns', 'exec', netns, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', script],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  daemon.stdout!.on('data', (d) => (log += d));
  daemon.stderr!.on('data', (d) => (log += d));
  const exited = new Promise((r) => daemon.once('exit', r));
  const forget = onExit(() => {
    daemon.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  let cri: CriClient | undefined;
  const stop = async () => {
    cri?.close();
    if (daemon.exitCode === null && daemon.signalCode === null) {
      daemon.kill('SIGTERM');
      const timer = setTimeout(() => daemon.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
    forget();
  };
  // Up once the CRI image service answers (the plugin loads after the core services).
  cri = criClient(sock);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (daemon.exitCode !== null || daemon.signalCode !== null) {
      await stop();
      throw new Error(`containerd exited: ${log}`);
    }
    try {
      await cri.listImages();
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`containerd's CRI did not answer within 60 s (${(err as Error).message}): ${log}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return { sock, log: () => log, cri, stop };
}

// --- The CRI client: @grpc/grpc-js on the image service of CRI v1 (cri-images.proto).

export interface AuthConfig {
  username?: string;
  password?: string;
  auth?: string;
  serverAddress?: string;
  identityToken?: string;
  registryToken?: string;
}

export interface CriImage {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  size: string;
}

export interface CriClient {
  pullImage: (image: string, auth?: AuthConfig) => Promise<string>;
  imageStatus: (image: string) => Promise<CriImage | null>;
  listImages: () => Promise<CriImage[]>;
  removeImage: (image: string) => Promise<void>;
  close: () => void;
}

/** A gRPC failure as containerd reports it: `code` (grpc status) and `details` (its message). */
export type CriError = Error & { code: number; details: string };

let definition: grpc.GrpcObject | undefined;
function loadApi(): grpc.GrpcObject {
  definition ??= grpc.loadPackageDefinition(
    protoLoader.loadSync(API_PROTO, { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true }));
  return definition;
}

type Unary = (req: unknown, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: any) => void) => void;

function criClient(sock: string): CriClient {
  let client: (grpc.Client & Record<string, Unary>) | undefined;
  const ready = Promise.resolve(loadApi()).then((api) => {
    const ImageService = ((api.runtime as grpc.GrpcObject).v1 as grpc.GrpcObject).ImageService as grpc.ServiceClientConstructor;
    client = new ImageService(`unix://${sock}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, Unary>;
    return client;
  });
  // Pulls through the gateway take seconds; 5 minutes is the bound for a loaded machine.
  const call = async (method: string, req: unknown, timeoutMs = 300_000): Promise<any> => {
    const c = await ready;
    return new Promise((resolve, reject) => {
      c[method]!.call(c, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res)));
    });
  };
  return {
    // As the kubelet sends it: the image and the Secret's credentials. The kubelet also sends the
    // Pod's sandbox config, which plays no part in resolving, trusting or authenticating; left out.
    pullImage: async (image, auth) => (await call('PullImage', { image: { image }, ...(auth ? { auth } : {}) })).imageRef,
    imageStatus: async (image) => (await call('ImageStatus', { image: { image } })).image ?? null,
    listImages: async () => (await call('ListImages', {}, 10_000)).images,
    removeImage: async (image) => { await call('RemoveImage', { image: { image } }); },
    close: () => client?.close(),
  };
}

// --- The kubelet's side: AuthConfig from a kubernetes.io/dockerconfigjson Secret.

/**
 * The AuthConfigs the kubelet passes to PullImage for `image`, from a Secret
 * (YAML), in the order it tries them: as pkg/credentialprovider does, each
 * `auths` key is read as a schemeless URL ("/v1/" and "/v2/" path prefixes
 * dropped), matched on the image's host part by part (`*` globs a part),
 * the port exactly, and the path as a prefix; an entry's `auth` (base64
 * user:password) wins over its username and password. Only username and
 * password reach the AuthConfig.
 */
export function kubeletAuthConfigs(secretYaml: string, image: string): AuthConfig[] {
  const secret = parseYaml(secretYaml) as { type?: string; data?: Record<string, string> };
  if (secret.type !== 'kubernetes.io/dockerconfigjson') throw new Error(`not a dockerconfigjson Secret: ${secret.type}`);
  const config = JSON.parse(Buffer.from(secret.data!['.dockerconfigjson']!, 'base64').toString('utf8')) as {
    auths: Record<string, { username?: string; password?: string; auth?: string }>;
  };
  const target = new URL(`https://${image.replace(/[:@][^/]*$/, '')}`);
  const out: AuthConfig[] = [];
  for (const [key, entry] of Object.entries(config.auths)) {
    const glob = new URL(/^https?:\/\//.test(key) ? key : `https://${key}`);
    let path = glob.pathname;
    if (path.startsWith('/v2/') || path.startsWith('/v1/')) path = path.slice(3);
    if (path === '/') path = '';
    if (glob.port !== target.port) continue;
    const [gParts, tParts] = [glob.hostname.split('.'), target.hostname.split('.')];
    if (gParts.length !== tParts.length) continue;
    const partsMatch = gParts.every((g, i) => new RegExp(`^${g.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^.]*')}$`).test(tParts[i]!));
    if (!partsMatch || !target.pathname.startsWith(path)) continue;
    let { username = '', password = '' } = entry;
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) throw new Error(`auth of ${key} has no ':'`);
      [username, password] = [decoded.slice(0, colon), decoded.slice(colon + 1)];
    }
    out.push({ username, password });
  }
  return out;
}

/** `containerd config default`, as the installed containerd prints it. */
export async function containerdDefaultConfig(): Promise<string> {
  const r = await exec('containerd', ['config', 'default']);
  if (r.code !== 0) throw new Error(`containerd config default: ${r.stderr}`);
  return r.stdout;
}
