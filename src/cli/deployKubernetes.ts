// `gateway deploy kubernetes`: what users would otherwise type out, a
// kustomize directory holding the manifests and the ConfigMap and Secret
// inputs from certs/ and the users file. The side effects are here: reading
// the inputs and writing the directory whole (a temporary sibling renamed
// into place), so nothing is ever half-written. Loaded by the command's
// action (deploy.ts), not by `gateway --help`.
import { createHash, createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readHtpasswd } from '../auth/htpasswd.js';
import { exists } from '../certs/store.js';
import type { FileSpec } from '../util/atomicFiles.js';
import { fail } from '../errors.js';
import { checkOut } from './outDir.js';
import { configSets, containerConfig, readUserConfig } from '../deploy/containerConfig.js';
import {
  certificateWarnings, chooseUpstream, parseImage, parseNamespace, parseOverlay, parseSelector, retiredTokenCerts,
  tlsInputs, tokenInputs, upstreamNamespace, type InputFile,
} from '../deploy/inputs.js';
import { builtImage } from '../deploy/builtImage.js';
import { IN_CONTAINER, MARKER, MOUNTS, OBJECTS, OUT, SECRET_FOLDERS, type Overlay } from '../deploy/layout.js';
import { nodeAddress, parseExpose } from '../deploy/exposure.js';
import { neededSecrets, parseFitNames, TLS_SECRET_FILES } from '../deploy/fit.js';
import { normalizePem, readTrustPem } from '../certs/trustSet.js';
import { pinnedCommand } from '../trust/endpoint.js';
import { parseAddress } from '../bundle/address.js';
import { renderDirectory, type OutFile, type ShippedFile } from '../deploy/render.js';
import { DEFAULT_CONFIG, type Format } from './options.js';
import { printJson, type Output } from './output.js';

const SHIPPED = fileURLToPath(new URL('../../deploy/kubernetes/', import.meta.url));

async function listShipped(dir = SHIPPED, prefix = ''): Promise<ShippedFile[]> {
  const out: ShippedFile[] = [];
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listShipped(join(dir, entry.name), rel)));
    else if (entry.name.endsWith('.yaml')) out.push({ path: rel, content: await readFile(join(dir, entry.name), 'utf8') });
  }
  return out;
}

async function readInput(file: InputFile, hint: string): Promise<OutFile> {
  try {
    return { path: file.to, content: await readFile(file.from), mode: file.mode };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return fail(code === 'ENOENT' ? 'FILE_MISSING' : 'FILE_INVALID', `cannot read ${file.from} (${code ?? (err as Error).message}); ${hint}`);
  }
}

const namesIn = async (dir: string) => readdir(dir).catch(() => [] as string[]);
/** The upstream URL's port, as the egress rule needs it. */
const upstreamPort = (upstream: string) => Number(new URL(upstream).port || (upstream.startsWith('https:') ? 443 : 80));


/** Writes the tree into a temporary sibling, then renames it into place: all of it or none. */
async function writeTree(out: string, files: readonly OutFile[], replacing: boolean): Promise<void> {
  const suffix = randomBytes(4).toString('hex');
  const staging = `${out}.tmp-${suffix}`;
  await mkdir(dirname(resolve(out)), { recursive: true });
  // 0700: it holds the server key and the users.
  await mkdir(staging, { mode: 0o700 });
  try {
    for (const folder of SECRET_FOLDERS) {
      if (files.some((f) => f.path.startsWith(`${folder}/`))) await mkdir(join(staging, folder), { mode: 0o700 });
    }
    for (const f of files) {
      const path = join(staging, f.path);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, f.content, { mode: f.mode, flag: 'wx' });
      await chmod(path, f.mode); // the umask may have narrowed it
    }
    await chmod(staging, 0o700);
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
  if (!replacing) {
    await rm(out, { recursive: true, force: true }); // an empty directory, checked before
    await rename(staging, out);
    return;
  }
  const old = `${out}.old-${suffix}`;
  await rename(out, old);
  await rename(staging, out);
  await rm(old, { recursive: true, force: true });
}

export type KubernetesOptions = {
  out: string; config?: string; certs?: string; htpasswd?: string; overlay: string; upstream?: string;
  registrySelector?: string; namespace: string; image?: string; single?: boolean; servicemonitor?: boolean;
  withTokenKey?: boolean; force?: boolean; output: Format;
  expose?: string; gatewayParent?: string; tlsSecret?: string; usersSecret?: string; gitops?: boolean;
  servicemonitorRelease?: string; priorityClass?: string;
};

export async function kubernetes(version: string, o: KubernetesOptions, io: Output): Promise<void> {
  // Under -o json the notes go into the document, so stdout is one JSON value.
  const notes: string[] = [];
  const note = (line: string) => (o.output === 'json' ? notes.push(line) : io.out(line));
  const overlay: Overlay = parseOverlay(o.overlay);
  const namespace = parseNamespace(o.namespace);
  // By tag and digest, so that nodes run exactly the image built here.
  const built = await builtImage();
  const image = parseImage(o.image ?? (built ? `${built.name}:${built.tag}@${built.digest}` : `registry-gateway:${version}`));
  if (o.image === undefined && image.digest) {
    note(`image: ${image.newName}:${image.newTag}@${image.digest} (from npm run image; --image to change it)`);
  }
  const selector = o.registrySelector === undefined ? undefined : parseSelector(o.registrySelector);
  if (overlay === 'with-registry' && selector) {
    fail('INVALID_ARGUMENT', '--registry-selector is for --overlay existing-registry; with-registry selects the registry it deploys');
  }
  if (overlay === 'existing-registry' && !selector) {
    fail('INVALID_ARGUMENT', '--overlay existing-registry needs --registry-selector KEY=VALUE, the labels of the registry\'s pods ' +
      '(kubectl get pods --show-labels lists them): the NetworkPolicy lets only the gateway reach those pods');
  }
  if (o.expose === undefined && o.gatewayParent !== undefined) {
    fail('INVALID_ARGUMENT', '--gateway-parent is for --expose tlsroute=HOST: add it, with the host the route answers');
  }
  const expose = o.expose === undefined ? undefined : parseExpose(o.expose, o.gatewayParent);
  const fitNames = parseFitNames(o);
  const out = resolve(o.out); // no trailing slash: the staging directory is a sibling, never inside
  const replacing = (await checkOut(out, Boolean(o.force), o.out,
    { command: 'gateway deploy kubernetes', file: 'kustomization.yaml', marker: MARKER })) === 'replace';

  // The user's config, read as `gateway serve` reads it here: paths relative to this directory.
  const configPath = o.config ?? ((await exists(DEFAULT_CONFIG)) ? DEFAULT_CONFIG : undefined);
  let text: string | undefined;
  if (configPath !== undefined) {
    text = await readFile(configPath, 'utf8').catch((err: NodeJS.ErrnoException) =>
      fail('FILE_MISSING', `cannot read config ${configPath} (${err.code ?? err.message}); pass the gateway's config with --config FILE`));
  }
  const source = configPath ?? 'the defaults (no config/gateway.yaml)';
  const user = readUserConfig(text, source);
  const upstream = chooseUpstream(overlay, o.upstream, user.upstream);
  if (overlay === 'with-registry' && user.upstream !== undefined && !/^https?:\/\/(localhost|127\.|\[::1\])/.test(user.upstream)) {
    note(`note: the config's upstream ${user.upstream} is replaced by the registry deployed beside the gateway; ` +
      `for that one, use --overlay existing-registry --upstream ${user.upstream}`);
  }

  // TLS: the server pair, and the CAs beside it.
  const certsDir = o.certs ?? dirname(user.tls.cert);
  const cert = o.certs ? join(o.certs, 'server.crt') : user.tls.cert;
  const key = o.certs ? join(o.certs, 'server.key') : user.tls.key;
  const service = `registry-gateway.${namespace}.svc.cluster.local`;
  // The node address first: nodes cannot resolve the Service name (their resolv.conf is not the cluster DNS).
  const initHint = `run 'gateway certs init --dir ${certsDir} --host ${expose?.host ?? 'NODE_ADDRESS'} --host ${service}' first ` +
    `(${expose ? 'the --expose address, then the name pods use' : 'NODE_ADDRESS: what nodes and clients outside use, see --expose'}), ` +
    'or point --certs at the directory holding it';
  const secrets: OutFile[] = [];
  const present = await namesIn(certsDir);
  // The certificate comes from a Secret of the cluster (--tls-secret, --gitops): a local copy is only checked, when there is one.
  const tlsElsewhere = fitNames.tlsSecret !== undefined || Boolean(o.gitops);
  if (tlsElsewhere && !present.includes(basename(cert))) {
    note(`note: no ${cert} here: the certificate is the Secret ${fitNames.tlsSecret ?? OBJECTS.tls}'s, unchecked; it must name ` +
      `${expose?.host ?? 'the address nodes use'}`);
  } else {
    for (const file of tlsInputs(cert, key, certsDir, present)) secrets.push(await readInput(file, initHint));
  }
  // The exposure's address added to server.crt (as `gateway certs add-host` does), written with the directory.
  let reissued: { added: string[]; files: FileSpec[]; previous: FileSpec[] } | undefined;
  if (secrets.length > 0) {
    const serverPem = String(secrets[0]!.content);
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(serverPem);
    } catch (err) {
      return fail('FILE_INVALID', `${cert} is not a PEM certificate (${(err as Error).message}); ` +
        `re-issue it with 'gateway certs init --force --dir ${certsDir}'`);
    }
    try {
      if (!certificate.checkPrivateKey(createPrivateKey(String(secrets[1]!.content)))) throw new Error('the key is another certificate\'s');
    } catch (err) {
      fail('FILE_INVALID', `${cert} and ${key} are not a certificate and its key (${(err as Error).message}); ` +
        `re-issue them with 'gateway certs renew --dir ${certsDir}'`);
    }
    if (!present.includes('ca.crt')) io.warn(`no ca.crt in ${certsDir}: /trust/ is off in the Pod, and nodes get their CA some other way`);
    if (new Date(certificate.validTo) < new Date()) {
      io.warn(`${cert} expired on ${certificate.validTo}; renew it with 'gateway certs renew --dir ${certsDir}'`);
    }
    const names = (host: string) => (/^[\d.]+$|:/.test(host) ? certificate.checkIP(host) : certificate.checkHost(host)) !== undefined;
    // Only the pair `certs add-host` manages, signed here (ca.key beside it), and deployed from here: a
    // --tls-secret certificate comes from its issuer (cert-manager), and without ca.key the warning says what to run.
    const ours = resolve(cert) === resolve(certsDir, 'server.crt') && resolve(key) === resolve(certsDir, 'server.key');
    if (expose && !names(expose.host) && ours && present.includes('ca.key') && fitNames.tlsSecret === undefined) {
      const { planAddHosts } = await import('../certs/addHost.js');
      const { certContext } = await import('./certs.js');
      // Outside the CA's name constraints: the same error as add-host's, before anything is written.
      const plan = await planAddHosts({ dir: certsDir, hosts: [expose.host], days: 365 }, certContext(io));
      const newCert = plan.files.find((f) => resolve(f.path) === resolve(cert))!;
      const newKey = plan.files.find((f) => resolve(f.path) === resolve(key))!;
      reissued = {
        added: plan.added, files: plan.files,
        previous: [{ path: key, content: String(secrets[1]!.content), mode: newKey.mode },
          { path: cert, content: serverPem, mode: newCert.mode }],
      };
      secrets[0] = { ...secrets[0]!, content: newCert.content };
      secrets[1] = { ...secrets[1]!, content: newKey.content };
      certificate = new X509Certificate(newCert.content);
    }
    const publicUrl = expose?.publicUrl ?? user.publicUrl;
    certificateWarnings(names, { namespace, publicUrl, certPath: cert, certsDir }).forEach((w) => io.warn(w));
    // Another copy of the certificate is in the cluster: only the local one was checked.
    if (tlsElsewhere) secrets.splice(0, secrets.length);
  }
  // The client CA: ca.crt of the TLS Secret when it is the certificate directory's; otherwise (another file, or
  // --tls-secret, whose ca.crt is its issuer's) a ConfigMap of its own, so the TLS Secret never holds it.
  let clientCA: string | undefined;
  let clientCAFile: OutFile | undefined;
  if (user.tls.clientCA !== undefined) {
    if (resolve(user.tls.clientCA) === resolve(certsDir, 'ca.crt') && fitNames.tlsSecret === undefined) clientCA = `${MOUNTS.certs}/ca.crt`;
    else {
      const input = { from: user.tls.clientCA, to: `${OUT.clientCA}/ca.crt`, mode: 0o644 as const };
      clientCAFile = await readInput(input, 'fix tls.clientCA in the config');
      clientCA = `${MOUNTS.clientCA}/ca.crt`;
    }
  }

  // Users: checked as the gateway will read them.
  const htpasswd = o.htpasswd ?? user.auth.htpasswd;
  const usersElsewhere = fitNames.usersSecret !== undefined || Boolean(o.gitops);
  if (usersElsewhere && o.htpasswd === undefined && !(await exists(htpasswd))) {
    note(`note: the users are the Secret ${fitNames.usersSecret ?? OBJECTS.users}'s (key htpasswd), unchecked`);
  } else if (user.auth.mode !== 'none' || o.htpasswd !== undefined) {
    const users = await readHtpasswd(htpasswd); // missing: says to run gateway users add
    if (users.users.size === 0) io.warn(`${htpasswd} holds no users: nobody can log in until 'gateway users add NAME --file ${htpasswd}'`);
    if (!usersElsewhere) secrets.push(await readInput({ from: htpasswd, to: `${OUT.users}/htpasswd`, mode: 0o600 }, `fix --htpasswd`));
  }

  // Token mode: the signing key only when asked for.
  let verifyKeys: string[] | undefined;
  if (user.auth.mode === 'token') {
    if (!o.withTokenKey) {
      fail('INVALID_ARGUMENT', `${source} sets auth.mode token: the Pod signs tokens with ${user.auth.token.signingKey}; ` +
        'pass --with-token-key to put it (mode 0600) in the Secret registry-gateway-token');
    }
    // Unset in the config: beside the certificates, wherever --certs points.
    const signingKey = configSets(text, ['auth', 'token', 'signingKey']) ? user.auth.token.signingKey : join(certsDir, 'token.key');
    const { ensureSigningKey, certPathFor } = await import('../token/keyring.js');
    // Created here as serve would at its first start: the Pod cannot (read-only, no ca.key).
    if (await ensureSigningKey(signingKey, certsDir)) note(`created ${signingKey} and ${certPathFor(signingKey)} (the token signing key)`);
    const keyDir = dirname(signingKey);
    const token = tokenInputs(signingKey, certPathFor(signingKey), retiredTokenCerts(signingKey, await namesIn(keyDir)), user.auth.token.verifyKeys, keyDir);
    for (const file of token.files) secrets.push(await readInput(file, 'fix auth.token in the config'));
    verifyKeys = token.verifyKeys;
  } else if (o.withTokenKey) {
    fail('INVALID_ARGUMENT', `--with-token-key is for auth.mode token; ${source} sets auth.mode ${user.auth.mode}, which signs no tokens`);
  }

  // distribution's http.secret: kept across runs, so a re-render does not break uploads in progress.
  if (overlay === 'with-registry' && !o.gitops) {
    const previous = replacing ? await readFile(join(out, OUT.registry, 'http-secret'), 'utf8').catch(() => undefined) : undefined;
    secrets.push({ path: `${OUT.registry}/http-secret`, content: previous?.trim() || randomBytes(32).toString('hex'), mode: 0o600 });
  }

  // The bundled Redis's password: the configured redis.passwordFile's, else the one
  // rendered before (a re-render does not restart Redis for nothing), else a new one.
  if (!o.single) {
    const { readRedisPassword } = await import('../shared/redis.js');
    const previous = replacing ? await readFile(join(out, OUT.redis, 'password'), 'utf8').catch(() => undefined) : undefined;
    const password = user.redis?.passwordFile !== undefined ? await readRedisPassword(user.redis.passwordFile)
      : previous?.trim() || randomBytes(32).toString('hex');
    if (user.redis?.passwordFile !== undefined) {
      note(`the Redis deployed beside the gateway uses the password in ${user.redis.passwordFile}`);
    }
    secrets.push({ path: `${OUT.redis}/password`, content: password, mode: 0o600 });
  }

  // The hop to the registry. with-registry: the registry requires a credential only the
  // gateway holds (a pod that reaches it directly gets 401). existing-registry: the
  // config's upstream.ca, cert, key and passwordFile go into the Secret registry-gateway-upstream.
  const upstreamClient: Record<string, string> = {};
  const inUpstream = (name: string) => `${MOUNTS.upstream}/${name}`;
  if (overlay === 'with-registry') {
    const previous = replacing ? await readFile(join(out, OUT.upstream, 'password'), 'utf8').catch(() => undefined) : undefined;
    const password = previous?.trim() || randomBytes(32).toString('hex');
    const { default: bcrypt } = await import('bcryptjs');
    // distribution checks bcrypt on every request: the lowest cost, as the password is 256 random bits.
    const line = `${IN_CONTAINER.bundledUpstreamUser}:${(await bcrypt.hash(password, 4)).replace(/^\$2b\$/, '$2y$')}\n`;
    secrets.push({ path: `${OUT.upstream}/password`, content: password, mode: 0o600 });
    secrets.push({ path: `${OUT.registryAuth}/htpasswd`, content: line, mode: 0o600 });
    Object.assign(upstreamClient, { username: IN_CONTAINER.bundledUpstreamUser, passwordFile: inUpstream('password') });
  } else {
    const c = user.upstreamClient;
    const files: [keyof typeof c, string][] = [
      ['ca', 'ca.crt'], ['cert', 'client.crt'], ['key', 'client.key'], ['passwordFile', 'password'],
    ];
    for (const [key, name] of files) {
      const from = c[key];
      if (from === undefined || key === 'username') continue;
      secrets.push(await readInput({ from, to: `${OUT.upstream}/${name}`, mode: key === 'ca' || key === 'cert' ? 0o644 : 0o600 },
        `fix upstream.${key} in the config`));
      upstreamClient[key] = inUpstream(name);
    }
    if (c.username !== undefined) upstreamClient.username = c.username;
  }

  const rewritten = containerConfig(text, {
    source, file: configPath, upstream, redis: !o.single, clientCA, upstreamClient, ...(verifyKeys ? { verifyKeys } : {}),
    publicUrl: expose?.publicUrl, tlsFiles: fitNames.tlsSecret !== undefined ? TLS_SECRET_FILES : undefined,
  });
  rewritten.notes.forEach((n) => note(`note: ${n}`));
  const registryNs = overlay === 'existing-registry' ? upstreamNamespace(upstream) : undefined;
  if (registryNs !== undefined && registryNs !== namespace) {
    io.warn(`${upstream} is in namespace ${registryNs}, the gateway in ${namespace}: the NetworkPolicy 'registry' selects pods of ${namespace} only; ` +
      `deploy with --namespace ${registryNs}, or see overlays/existing-registry/registry-networkpolicy.yaml for a policy in ${registryNs}`);
  }
  const files = renderDirectory({
    version, overlay, namespace, image, shipped: await listShipped(), config: rewritten.text,
    shutdown: rewritten.config.shutdown, secrets: o.gitops ? [] : secrets, clientCA: clientCAFile, registrySelector: selector,
    single: Boolean(o.single), serviceMonitor: Boolean(o.servicemonitor),
    fit: {
      expose, ...fitNames, gitops: Boolean(o.gitops),
      registryEgress: selector
        ? { labels: selector, port: upstreamPort(upstream), namespace: registryNs !== namespace ? registryNs : undefined }
        : undefined,
    },
  });
  // Which address the nodes pull from, and the command that sets them up: what a node can reach first.
  const nodes = nodeAddress(expose, rewritten.config.publicUrl, namespace);
  const caPem = present.includes('ca.crt') ? await readTrustPem(certsDir).catch(() => undefined) : undefined;
  if (reissued) {
    const { writeFilesAtomically } = await import('../util/atomicFiles.js');
    await writeFilesAtomically(reissued.files);
    // Both or neither: without the directory, server.crt goes back to what it was.
    await writeTree(out, files, replacing).catch(async (err: unknown) => {
      await writeFilesAtomically(reissued!.previous);
      throw err;
    });
    note(`added ${reissued.added.join(', ')} to ${cert}, the --expose address (as 'gateway certs add-host' does; same CA: ` +
      `nodes need nothing new); ${o.gitops ? `create the Secret ${OBJECTS.tls} from the new ${cert} and ${key}`
        : `the Secret ${OBJECTS.tls} holds the new certificate`}`);
  } else await writeTree(out, files, replacing);
  const shown = relative(process.cwd(), out) || '.';
  if (nodes.warning) io.warn(nodes.warning);
  const caSha256 = caPem === undefined ? undefined : createHash('sha256').update(normalizePem(caPem)).digest('hex');
  const setup = nodes.address && caSha256 ? pinnedCommand(parseAddress(nodes.address), caSha256) : undefined;
  if (o.output === 'json') {
    printJson(io, {
      out: shown, overlay, single: Boolean(o.single), namespace, upstream, notes,
      nodes: { address: nodes.address ?? null, route: nodes.route ?? null, setup: setup ?? null },
      files: files.map((f) => ({ path: join(shown, f.path), mode: `0${f.mode.toString(8)}`, secret: f.mode === 0o600 })),
    });
    return;
  }
  io.out(`wrote ${shown}: overlay ${overlay}${o.single ? ' (single)' : ''}, namespace ${namespace}, upstream ${upstream}, ${files.length} files`);
  if (o.gitops) {
    io.out(`no secret data written (--gitops): create ${neededSecrets(overlay, fitNames, user.auth.mode, Boolean(o.single)).join(', ')} by your own means`);
  }
  else io.out(`secret (mode 0600, git-ignored): ${secrets.filter((s) => s.mode === 0o600).map((s) => join(shown, s.path)).join(', ')}`);
  if (nodes.address) io.out(`nodes pull from ${nodes.address}: ${nodes.route}`);
  io.out('next:');
  io.out(`  kubectl apply -k ${shown}`);
  io.out(`  kubectl -n ${namespace} rollout status deployment/registry-gateway`);
  if (setup) io.out(`  # then, as root on each node (or through 'gateway bundle'):\n  ${setup}`);
}
