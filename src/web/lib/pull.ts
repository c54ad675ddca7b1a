// The pull commands the copy buttons put on the clipboard, for each client,
// by tag and by digest. HOST is the API's `registry` (the host:port clients
// use); ctr reads the gateway's CA from the hosts dir install.sh writes.

export type Client = 'docker' | 'podman' | 'ctr' | 'skopeo';
export const CLIENTS: readonly Client[] = ['docker', 'podman', 'ctr', 'skopeo'];

export const CONTAINERD_HOSTS_DIR = '/etc/containerd/certs.d';

export interface PullTarget {
  registry: string;
  name: string;
  /** A tag, or a digest (sha256:...). */
  ref: string;
}

export interface PullCommand {
  client: Client;
  by: 'tag' | 'digest';
  /** The accessible name of its copy button: "Copy docker pull by tag". */
  label: string;
  command: string;
}

const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export function isDigest(ref: string): boolean {
  return DIGEST.test(ref);
}

/** HOST/NAME:TAG or HOST/NAME@sha256:... */
export function imageReference({ registry, name, ref }: PullTarget): string {
  return `${registry}/${name}${isDigest(ref) ? '@' : ':'}${ref}`;
}

/** One client's command; `user` (the logged-in user) is passed to ctr, which has no credential store of its own. */
export function pullCommand(client: Client, target: PullTarget, user: string | null = null): string {
  const image = imageReference(target);
  switch (client) {
    case 'docker':
      return `docker pull ${image}`;
    case 'podman':
      return `podman pull ${image}`;
    case 'ctr':
      // ctr asks for the password when --user has none.
      return `ctr images pull --hosts-dir ${CONTAINERD_HOSTS_DIR}${user ? ` --user ${shellQuote(user)}` : ''} ${image}`;
    case 'skopeo':
      // An OCI layout directory named after the repository; by digest it
      // holds the image without a ref name (an OCI reference can't be a digest).
      return `skopeo copy docker://${image} oci:${target.name}${isDigest(target.ref) ? '' : `:${target.ref}`}`;
  }
}

/** Every client's command by tag (when there is one) and by digest. */
export function pullCommands(
  registry: string,
  name: string,
  tag: string | null,
  digest: string,
  user: string | null,
): PullCommand[] {
  const commands: PullCommand[] = [];
  for (const by of ['tag', 'digest'] as const) {
    const ref = by === 'tag' ? tag : digest;
    if (!ref) continue;
    for (const client of CLIENTS) {
      commands.push({
        client,
        by,
        label: `Copy ${client === 'ctr' ? 'ctr images pull' : client === 'skopeo' ? 'skopeo copy' : `${client} pull`} by ${by}`,
        command: pullCommand(client, { registry, name, ref }, user),
      });
    }
  }
  return commands;
}

/** A word for sh: as it is when it holds only safe characters, else in single quotes. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
