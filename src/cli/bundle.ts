// `gateway bundle`: the files every node needs to trust the registry.
import { Command } from 'commander';
import { X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Address } from '../bundle/address.js';
import { DEFAULT_TARGETS, NODE_TARGETS, type NodeTarget } from '../bundle/nodeTargets.js';
import type { BundleInput } from '../bundle/render.js';
import { fail } from '../errors.js';
import { collect, outputOption, type Format } from './options.js';
import { certContext } from './certs.js';
import { printJson, type Output } from './output.js';
import { readStdin } from './stdin.js';

async function stdinPassword(): Promise<string> {
  if (process.stdin.isTTY) {
    fail('INVALID_ARGUMENT', '--pull-secret reads the password from standard input: ' +
      'printf %s "$PW" | gateway bundle ... --pull-secret USER');
  }
  const password = await readStdin();
  const { checkPassword } = await import('../auth/users.js');
  checkPassword(password);
  return password;
}

type BundleOptions = {
  host?: string[]; certs: string; out: string; node?: string; clientCert?: boolean; pullSecret?: string; tar?: boolean;
  daemonsetImage?: string; daemonsetFor?: string; output: Format;
};

// An image reference: [registry[:port]/]path[:tag][@digest], as Kubernetes takes it.
const IMAGE_REF = /^(?:(?:[a-zA-Z0-9-]+\.)*[a-zA-Z0-9-]+(?::\d{1,5})?\/|\[[0-9a-fA-F:]+\](?::\d{1,5})?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$/;

/** The DaemonSet's image, checked, with what to know about where it comes from. */
function daemonsetImage(image: string, addresses: Address[], io: Output): string {
  if (!IMAGE_REF.test(image)) {
    fail('INVALID_ARGUMENT', `invalid --daemonset-image '${image}': expected an image reference, e.g. registry.internal:5443/library/busybox:1.36`);
  }
  const first = image.split('/')[0]!;
  const registry = image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost') ? first : 'docker.io';
  if (registry === 'docker.io') {
    io.warn(`--daemonset-image ${image} comes from Docker Hub: air-gapped nodes cannot pull it; name one in a registry the nodes reach`);
  }
  if (addresses.some((a) => a.name === registry || a.name === registry.replace(/:443$/, ''))) {
    io.warn(`--daemonset-image ${image} is in this registry: nodes pull it only once they trust it ` +
      '(kind and k3d mounts, install.sh) and, with auth, with a pull secret; elsewhere preload it or use one from a registry they already trust');
  }
  return image;
}

function daemonsetTargets(list: string | undefined): NodeTarget[] {
  if (list === undefined) return DEFAULT_TARGETS;
  const names = list.split(',').map((s) => s.trim()).filter(Boolean);
  const known = Object.keys(NODE_TARGETS);
  for (const n of names) {
    if (!known.includes(n)) fail('INVALID_ARGUMENT', `invalid --daemonset-for '${n}': choose from ${known.join(', ')} (k3s also covers k3d)`);
  }
  if (names.length === 0) fail('INVALID_ARGUMENT', `--daemonset-for needs at least one of ${known.join(', ')}`);
  return [...new Set(names)] as NodeTarget[];
}

export function bundleCommand(io: Output): Command {
  return new Command('bundle')
    .description('write the trust bundle nodes install: Docker, containerd, podman/CRI-O, k3s, kind, k3d, Kubernetes, install.sh')
    .option('--host <host:port>', 'an address nodes use for the registry (repeatable)', collect)
    .option('--certs <dir>', 'directory holding ca.crt (and ca.key for --client-cert)', 'certs')
    .option('--out <dir>', 'output directory (replaced whole)', 'dist/trust')
    .option('--node <name>', 'node name: names the client certificate and the tarball')
    .option('--client-cert', 'include a client certificate for --node (mutual TLS)')
    .option('--pull-secret <user>', 'include credentials for USER (password on standard input): a Kubernetes pull secret and k3s auth')
    .option('--tar', 'also write a deterministic .tar.gz beside --out')
    .option('--daemonset-image <image>', 'write a DaemonSet that copies the CA onto every node, running this image (busybox; one nodes can already pull)')
    .option('--daemonset-for <list>', `where the DaemonSet writes on each node: ${Object.keys(NODE_TARGETS).join(', ')} (default ${DEFAULT_TARGETS.join(',')})`)
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n' +
      '  $ gateway bundle --host registry.example.test:5443 --host localhost:5443\n' +
      '  $ sudo sh dist/trust/install.sh\n' +
      '  $ gateway bundle --host registry.example.test:5443 --node worker1 --client-cert --tar\n' +
      '  $ gateway bundle --host registry.example.test:5443 -o json   # the files written, for scripts\n' +
      '  $ gateway bundle --host registry.example.test:5443 --daemonset-image mirror.internal/library/busybox:1.36 --daemonset-for containerd,k3s')
    .action(async (o: BundleOptions) => {
      if (!o.host?.length) {
        fail('INVALID_ARGUMENT', 'give at least one --host HOST:PORT, the address nodes pull from (e.g. registry.example.test:5443)');
      }
      const [
        { parseAddress }, { renderBundle }, { tarball }, { writeBundle }, { sanHosts }, { parseHosts }, { issueLeaf }, { loadIssuer },
        { certPaths, readText }, { readTrustPem },
      ] = await Promise.all([
        import('../bundle/address.js'), import('../bundle/render.js'), import('../bundle/tarball.js'), import('../bundle/write.js'),
        import('../certs/der.js'), import('../certs/hosts.js'), import('../certs/issue.js'), import('../certs/issuer.js'),
        import('../certs/store.js'), import('../certs/trustSet.js'),
      ]);
      const addresses = o.host.map(parseAddress);
      const clientNode = o.clientCert
        ? o.node || fail('INVALID_ARGUMENT', '--client-cert needs --node NAME (the certificate is issued for that node)')
        : undefined;
      if (o.node && !/^[a-z0-9][a-z0-9_-]{0,62}$/.test(o.node)) {
        fail('INVALID_ARGUMENT', `invalid --node '${o.node}': use lower-case letters, digits, '-' and '_'`);
      }
      if (o.daemonsetFor !== undefined && o.daemonsetImage === undefined) {
        fail('INVALID_ARGUMENT', '--daemonset-for needs --daemonset-image IMAGE: without an image there is no DaemonSet');
      }
      const caPem = await readTrustPem(o.certs);
      const input: BundleInput = { addresses, caPem, outDir: resolve(o.out) };
      if (o.daemonsetImage !== undefined) {
        input.daemonset = { image: daemonsetImage(o.daemonsetImage, addresses, io), targets: daemonsetTargets(o.daemonsetFor) };
      }
      // Names clients will refuse: say so now rather than at the first pull.
      const serverPath = certPaths(o.certs, 'server').cert;
      try {
        const sans = sanHosts(new X509Certificate(await readText(serverPath, 'server certificate')).raw);
        for (const a of addresses) {
          const bare = a.host.replace(/^\[|\]$/g, '');
          // *.example.test covers one label: a.example.test, not a.b.example.test.
          const wildcard = (s: string) => s.startsWith('*.') && bare.endsWith(s.slice(1)) && !bare.slice(0, -s.length + 1).includes('.');
          if (!sans.some((s) => s === bare || wildcard(s))) {
            io.warn(`${serverPath} has no name for ${bare}: clients will refuse the gateway there; ` +
              `add it with 'gateway certs init --force --host ${bare} ...'`);
          }
        }
      } catch {
        // no server certificate here: the bundle needs only the CA
      }
      if (clientNode !== undefined) {
        const ctx = certContext(io);
        const leaf = { usage: 'client' as const, hosts: parseHosts([]), days: 365, commonName: clientNode };
        const [key, cert] = await issueLeaf(await loadIssuer(o.certs), leaf, ctx, o.certs, clientNode);
        input.client = { certPem: cert.content, keyPem: key.content, node: clientNode };
      }
      if (o.pullSecret) input.pullSecret = { user: o.pullSecret, password: await stdinPassword() };
      const files = renderBundle(input);
      await writeBundle(o.out, files);
      const secrets = files.filter((f) => f.secret).map((f) => join(o.out, f.path));
      const tar = o.tar ? join(dirname(o.out), `${basename(o.out)}${o.node ? `-${o.node}` : ''}.tar.gz`) : undefined;
      if (tar !== undefined) await writeFile(tar, await tarball(files), { mode: secrets.length > 0 ? 0o600 : 0o644 });
      const install = join(o.out, 'install.sh');
      if (o.output === 'json') {
        printJson(io, {
          out: o.out, hosts: addresses.map((a) => a.name),
          files: files.map((f) => ({ path: join(o.out, f.path), secret: Boolean(f.secret) })),
          tarball: tar ?? null, install,
        });
        return;
      }
      io.out(`wrote ${files.length} files to ${o.out} for ${addresses.map((a) => a.name).join(', ')}`);
      if (secrets.length > 0) io.out(`secret (mode 0600, keep private): ${secrets.join(', ')}`);
      if (tar !== undefined) io.out(`wrote ${tar}`);
      io.out(`on each node, as root: sh ${install}   (--dry-run first to see what it changes)`);
    });
}
