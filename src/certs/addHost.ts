// `gateway certs add-host` and `gateway up --host`: a name or address the
// registry gains after its first start goes into a new server certificate
// from the same CA. Nodes trust the CA, not the certificate, so they need
// nothing new; the running gateway picks the file up by itself.
import { X509Certificate } from 'node:crypto';
import { writeFilesAtomically, type FileSpec } from '../util/atomicFiles.js';
import { sanHosts } from './der.js';
import { hostKey, parseHosts } from './hosts.js';
import { reissueFiles, type Context } from './issue.js';
import { loadIssuer } from './issuer.js';
import { certPaths, readText } from './store.js';

export interface AddHostResult {
  /** The names that were not in server.crt before. */
  added: string[];
  /** Every name of server.crt now. */
  hosts: string[];
  written: string[];
}

export interface AddHostPlan {
  added: string[];
  hosts: string[];
  /** server.key and server.crt re-issued, not yet written (none when nothing is added). */
  files: FileSpec[];
}

/**
 * What `addHosts` would write, written by the caller: `gateway deploy
 * kubernetes` puts the new pair into its Secret and writes both or neither.
 */
export async function planAddHosts(opts: { dir: string; hosts: string[]; days: number }, ctx: Context): Promise<AddHostPlan> {
  const names = sanHosts(new X509Certificate(await readText(certPaths(opts.dir, 'server').cert, 'server certificate')).raw);
  const added = parseHosts(opts.hosts).map(hostKey).filter((h) => !names.includes(h));
  if (added.length === 0) return { added, hosts: names, files: [] };
  // The CA's constraints are checked before anything is generated: a name
  // outside them fails with the way out, and server.crt stays as it was.
  const { files, hosts } = await reissueFiles(await loadIssuer(opts.dir), opts.dir, 'server', opts.days, ctx, added);
  return { added, hosts, files };
}

export async function addHosts(opts: { dir: string; hosts: string[]; days: number }, ctx: Context): Promise<AddHostResult> {
  const { added, hosts, files } = await planAddHosts(opts, ctx);
  await writeFilesAtomically(files);
  return { added, hosts, written: files.map((f) => f.path) };
}
