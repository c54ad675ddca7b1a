// Which files go into the Secrets, and the checks on the flags, as pure
// functions of what the CLI found on disk. Keys only where asked: server.key
// always (the gateway cannot serve without it), the token key only with
// --with-token-key, the CA key never.
import { basename } from 'node:path';
import { fail } from '../errors.js';
import { IN_CONTAINER, MOUNTS, OUT, OVERLAYS, type Overlay } from './layout.js';

export interface InputFile {
  /** Path on this machine. */
  from: string;
  /** Path inside the output directory (folder = generator, name = key in the Pod). */
  to: string;
  mode: 0o600 | 0o644;
}

const SECRET = 0o600;
const PUBLIC = 0o644;

export function parseOverlay(name: string): Overlay {
  if (!(OVERLAYS as readonly string[]).includes(name)) {
    fail('INVALID_ARGUMENT', `unknown --overlay '${name}': choose with-registry (a registry deployed behind the gateway, ` +
      'for a fresh cluster) or existing-registry (in front of a registry Service you already run, with --upstream)');
  }
  return name as Overlay;
}

// RFC 1123 label, as Kubernetes requires of namespace names.
export function parseNamespace(ns: string): string {
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(ns)) {
    fail('INVALID_ARGUMENT', `invalid --namespace '${ns}': use lower-case letters, digits and '-', at most 63, e.g. registry-gateway`);
  }
  return ns;
}

export interface ImageRef {
  newName: string;
  newTag?: string;
  digest?: string;
}

/** An image reference as kustomize's images: entry takes it: name, and a tag or a digest. */
export function parseImage(ref: string): ImageRef {
  const m = /^((?:[a-zA-Z0-9.-]+(?::\d{1,5})?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)(?::([\w][\w.-]{0,127}))?(?:@(sha256:[0-9a-f]{64}))?$/.exec(ref);
  if (!m) fail('INVALID_ARGUMENT', `invalid --image '${ref}': expected NAME[:TAG][@sha256:DIGEST], e.g. registry.example.test:5443/registry-gateway:0.1.0`);
  return { newName: m[1]!, ...(m[2] ? { newTag: m[2] } : {}), ...(m[3] ? { digest: m[3] } : {}) };
}

const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/** --registry-selector KEY=VALUE[,KEY=VALUE]: the existing registry's pod labels. */
export function parseSelector(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    const [key, value] = eq < 0 ? [part, undefined] : [part.slice(0, eq), part.slice(eq + 1)];
    if (value === undefined || !LABEL_KEY.test(key) || !LABEL_VALUE.test(value)) {
      fail('INVALID_ARGUMENT', `invalid --registry-selector '${part}': expected KEY=VALUE labels of the registry's pods, ` +
        'e.g. app.kubernetes.io/name=registry (kubectl get pods --show-labels lists them)');
    }
    labels[key] = value;
  }
  if (Object.keys(labels).length === 0) fail('INVALID_ARGUMENT', '--registry-selector needs at least one KEY=VALUE');
  return labels;
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/** The upstream the Pod forwards to: the bundled registry, or the one named. */
export function chooseUpstream(overlay: Overlay, flag: string | undefined, fromConfig: string | undefined): string {
  if (overlay === 'with-registry') {
    if (flag !== undefined) {
      fail('INVALID_ARGUMENT', `--upstream is for --overlay existing-registry; with-registry's upstream is the registry it deploys (${IN_CONTAINER.bundledUpstream})`);
    }
    return IN_CONTAINER.bundledUpstream;
  }
  const upstream = flag ?? (fromConfig !== undefined && !LOOPBACK.test(new URL(fromConfig).hostname) ? fromConfig : undefined);
  if (upstream === undefined) {
    fail('INVALID_ARGUMENT', '--overlay existing-registry needs --upstream URL, the registry\'s Service as the Pod reaches it, ' +
      `e.g. http://registry.registry.svc.cluster.local:5000${fromConfig ? ` (the config's ${fromConfig} is this machine's loopback)` : ''}`);
  }
  let url: URL | undefined;
  try {
    url = new URL(upstream);
  } catch {
    // refused below
  }
  if (!url || !['http:', 'https:'].includes(url.protocol) || url.pathname.replace(/\/$/, '') !== '' || url.search || url.username) {
    fail('INVALID_ARGUMENT', `invalid --upstream '${upstream}': expected http://SERVICE.NAMESPACE.svc.cluster.local:PORT with no path`);
  }
  if (LOOPBACK.test(url.hostname)) {
    fail('INVALID_ARGUMENT', `invalid --upstream '${upstream}': loopback in the Pod is the Pod itself; name the registry's Service, ` +
      'e.g. http://registry.registry.svc.cluster.local:5000');
  }
  return url.origin;
}

/** The namespace an upstream Service name is in, when the URL says (NAME.NS.svc[.cluster.local]). */
export function upstreamNamespace(upstream: string): string | undefined {
  return /^[a-z0-9-]+\.([a-z0-9-]+)\.svc(\.|$)/.exec(new URL(upstream).hostname)?.[1];
}

export const TLS_REQUIRED = ['server.crt', 'server.key'] as const;
/** ca.crt for /trust/, and during a CA rollover the other CA: what serve reads beside server.crt. */
export const TLS_OPTIONAL = ['ca.crt', 'ca-next.crt', 'ca-previous.crt'] as const;

/**
 * The TLS Secret's files from the certificate directory, given the names in
 * it. ca.key is never among them: the cluster gets no signing key.
 */
export function tlsInputs(cert: string, key: string, certsDir: string, present: readonly string[]): InputFile[] {
  const files: InputFile[] = [
    { from: cert, to: `${OUT.certs}/server.crt`, mode: PUBLIC },
    { from: key, to: `${OUT.certs}/server.key`, mode: SECRET },
  ];
  for (const name of TLS_OPTIONAL) if (present.includes(name)) files.push({ from: `${certsDir}/${name}`, to: `${OUT.certs}/${name}`, mode: PUBLIC });
  return files;
}

/** Retired token certificates beside the key (`gateway token rotate`): NAME-<time>.crt. Their keys stay behind. */
export function retiredTokenCerts(keyPath: string, present: readonly string[]): string[] {
  const base = basename(keyPath).replace(/\.key$/, '');
  const pattern = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-\\d{8}T\\d{6}\\.crt$`);
  return present.filter((f) => pattern.test(f)).sort();
}

/** The token Secret: the signing key and its certificate, the retired certificates, verifyKeys. */
export function tokenInputs(keyPath: string, certPath: string, retired: readonly string[], verifyKeys: readonly string[], dir: string): { files: InputFile[]; verifyKeys: string[] } {
  const files: InputFile[] = [
    { from: keyPath, to: `${OUT.token}/token.key`, mode: SECRET },
    { from: certPath, to: `${OUT.token}/token.crt`, mode: PUBLIC },
    // Retired beside token.key in the Pod too, so they verify as they did here.
    ...retired.map((name): InputFile => ({ from: `${dir}/${name}`, to: `${OUT.token}/${name.replace(/^.*?-(\d{8}T\d{6}\.crt)$/, 'token-$1')}`, mode: PUBLIC })),
  ];
  const mapped: string[] = [];
  for (const path of verifyKeys) {
    const name = basename(path);
    const to = `${OUT.token}/${name}`;
    const same = files.find((f) => f.to === to);
    if (same && same.from !== path) {
      fail('INVALID_CONFIG', `auth.token.verifyKeys: ${path} and ${same.from} would both be ${MOUNTS.token}/${name} in the Pod; rename one`);
    }
    if (!name.endsWith('.crt')) fail('INVALID_CONFIG', `auth.token.verifyKeys: ${path} is not a .crt: only certificates verify, keys stay here`);
    if (!same) files.push({ from: path, to, mode: PUBLIC });
    mapped.push(`${MOUNTS.token}/${name}`);
  }
  return { files, verifyKeys: mapped };
}

/**
 * Names clients in the cluster and outside use that the server certificate
 * lacks, as warnings with the fix. `names(host)` says whether the certificate
 * names a host.
 */
export function certificateWarnings(names: (host: string) => boolean, o: { namespace: string; publicUrl?: string | undefined; certPath: string; certsDir: string }): string[] {
  const warnings: string[] = [];
  const service = `registry-gateway.${o.namespace}.svc`;
  // .svc alone is outside the CA's private-name constraints; .svc.cluster.local is under .local.
  if (!names(service) && !names(`${service}.cluster.local`)) {
    warnings.push(`${o.certPath} names neither ${service} nor ${service}.cluster.local: clients in the cluster using the Service ` +
      `are refused; add it with 'gateway certs add-host --dir ${o.certsDir} --host ${service}.cluster.local' and run this again ` +
      '(the running gateways pick it up without a restart)');
  }
  if (o.publicUrl !== undefined) {
    const host = new URL(o.publicUrl).hostname.replace(/^\[|\]$/g, '');
    if (!names(host)) {
      warnings.push(`${o.certPath} does not name ${host}, publicUrl's host: clients are refused there; ` +
        `add it with 'gateway certs add-host --dir ${o.certsDir} --host ${host}' and run this again`);
    }
  }
  return warnings;
}
