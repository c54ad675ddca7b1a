// The X.509 name constraints extension (RFC 5280 4.2.1.10). node-forge knows
// its OID but has no builder, so it is encoded and decoded here with forge's
// ASN.1 API. A CA that every node trusts is limited to private names and the
// registry's own: even a stolen ca.key cannot then mint a certificate for a
// public site.
import forge from 'node-forge';
import { isIP } from 'node:net';
import { fail } from '../errors.js';
import { parseHost, type Host } from './hosts.js';
import { ipUtil } from './der.js';

const { asn1 } = forge;

export const NAME_CONSTRAINTS_OID = '2.5.29.30';

export type Constraint =
  | { kind: 'dns'; domain: string } // "" matches every DNS name
  | { kind: 'ip'; address: string; prefix: number }
  | { kind: 'other'; tag: number };

export interface NameConstraints {
  permitted: Constraint[];
  excluded: Constraint[];
}

const TAG_DNS = 2;
const TAG_IP = 7;

// What a private registry legitimately gains after its first start: names
// under suffixes that no public CA can certify (RFC 6761/6762/8375, ICANN's
// .internal; .local also holds Kubernetes' cluster.local), and addresses that
// are never routed on the internet (RFC 1918, loopback, link-local, CGNAT
// shared space as Tailscale uses it, RFC 2544 benchmarking; IPv6 ULA and
// link-local). A leaked ca.key can sign none of the names a public site uses,
// yet adding `registry.lan` or a new 10.x address later keeps the CA.
export const PRIVATE_DOMAINS = ['internal', 'lan', 'local', 'localdomain', 'home.arpa', 'test', 'example', 'invalid', 'localhost'] as const;
export const PRIVATE_NETWORKS: readonly { address: string; prefix: number }[] = [
  { address: '127.0.0.0', prefix: 8 },
  { address: '10.0.0.0', prefix: 8 },
  { address: '172.16.0.0', prefix: 12 },
  { address: '192.168.0.0', prefix: 16 },
  { address: '169.254.0.0', prefix: 16 },
  { address: '100.64.0.0', prefix: 10 },
  { address: '198.18.0.0', prefix: 15 },
  { address: '::1', prefix: 128 },
  { address: 'fc00::', prefix: 7 },
  { address: 'fe80::', prefix: 10 },
];

export type ConstraintPolicy =
  /** Private names and addresses, plus the given names (and below) and addresses: names can be added later. */
  | 'private'
  /** Only the given names (and below) and addresses: any new name needs a new CA. */
  | 'exact';

const isIp = (c: Constraint): c is Extract<Constraint, { kind: 'ip' }> => c.kind === 'ip';

/**
 * The constraints for a CA that serves these hosts. A wildcard permits its
 * parent domain (which covers every name one level below it). `extra` widens
 * the set (`--permit`). Constraints only bind the name forms they mention, so
 * a form with no permitted entry is excluded outright: without that, a CA
 * constrained to DNS names could still sign for any IP address, and the reverse.
 */
export function constraintsFor(hosts: readonly Host[], policy: ConstraintPolicy = 'private', extra: readonly Constraint[] = []): NameConstraints {
  const base: Constraint[] = policy === 'private'
    ? [...PRIVATE_DOMAINS.map((domain): Constraint => ({ kind: 'dns', domain })), ...PRIVATE_NETWORKS.map((n): Constraint => ({ kind: 'ip', ...n }))]
    : [];
  const given = hosts.map((h): Constraint => (h.kind === 'dns'
    ? { kind: 'dns', domain: h.name.replace(/^\*\./, '') }
    : { kind: 'ip', address: h.address, prefix: h.version === 4 ? 32 : 128 }));
  const permitted = minimal([...base, ...extra, ...given]);
  const excluded: Constraint[] = [];
  if (!permitted.some((c) => c.kind === 'dns')) excluded.push({ kind: 'dns', domain: '' });
  if (!permitted.some(isIp)) excluded.push({ kind: 'ip', address: '0.0.0.0', prefix: 0 }, { kind: 'ip', address: '::', prefix: 0 });
  return { permitted, excluded };
}

/** Drops duplicates and entries another entry already covers, keeping the order. */
function minimal(list: Constraint[]): Constraint[] {
  const covers = (outer: Constraint, inner: Constraint): boolean => {
    if (outer.kind === 'dns' && inner.kind === 'dns') return dnsMatches(inner.domain, outer.domain);
    if (isIp(outer) && isIp(inner)) return outer.prefix <= inner.prefix && ipMatches(inner.address, outer);
    return false;
  };
  const out: Constraint[] = [];
  list.forEach((c, i) => {
    const coveredBy = (o: Constraint, j: number) => j !== i && covers(o, c) && (!covers(c, o) || j < i);
    if (!list.some(coveredBy)) out.push(c);
  });
  return out;
}

/**
 * Parses a `--permit` value: a DNS domain (every name below it) or an address
 * range in CIDR form (a bare address is one address).
 */
export function parseConstraint(value: string): Constraint {
  const text = value.trim().toLowerCase();
  const cidr = /^([0-9a-f:.]+)(?:\/(\d{1,3}))?$/.exec(text);
  const version = cidr ? isIP(cidr[1]!) : 0;
  if (cidr && version !== 0) {
    const max = version === 4 ? 32 : 128;
    const prefix = cidr[2] === undefined ? max : Number(cidr[2]);
    if (prefix > max || prefix < 1) fail('INVALID_ARGUMENT', `invalid --permit '${value}': the prefix length must be 1 to ${max}`);
    return { kind: 'ip', address: networkOf(cidr[1]!, prefix), prefix };
  }
  if (text.includes('/')) fail('INVALID_ARGUMENT', `invalid --permit '${value}': expected a domain (corp.example.com) or an address range (10.20.0.0/16)`);
  let host: Host;
  try {
    host = parseHost(text.replace(/^\*?\./, ''));
  } catch (err) {
    // The host parser's rule, under the flag the user typed.
    return fail('INVALID_ARGUMENT', (err as Error).message.replace(/^invalid --host '[^']*'/, `invalid --permit '${value}'`));
  }
  return host.kind === 'dns' ? { kind: 'dns', domain: host.name } : { kind: 'ip', address: host.address, prefix: host.version === 4 ? 32 : 128 };
}

// The range's first address: "10.1.2.3/8" is written 10.0.0.0/8.
function networkOf(address: string, prefix: number): string {
  const bytes = ipBytes(address).map((b, i) => b & (0xff00 >> Math.max(0, Math.min(8, prefix - i * 8))) & 0xff);
  const text = ipUtil.bytesToIP(String.fromCharCode(...bytes));
  return text.includes(':') ? new URL(`http://[${text}]/`).hostname.slice(1, -1) : text;
}

// RFC 5280: a DNS constraint matches the name itself and every name below it.
function dnsMatches(name: string, domain: string): boolean {
  return domain === '' || name === domain || name.endsWith(`.${domain}`);
}

function ipBytes(address: string): number[] {
  return [...ipUtil.bytesFromIP(address)].map((c) => c.charCodeAt(0));
}

function ipMatches(address: string, c: { address: string; prefix: number }): boolean {
  const a = ipBytes(address);
  const b = ipBytes(c.address);
  if (a.length !== b.length) return false;
  for (let bit = 0; bit < c.prefix; bit++) {
    const mask = 0x80 >> (bit % 8);
    if ((a[bit >> 3]! & mask) !== (b[bit >> 3]! & mask)) return false;
  }
  return true;
}

function matches(host: Host, c: Constraint): boolean {
  if (host.kind === 'dns') return c.kind === 'dns' && dnsMatches(host.name, c.domain);
  return c.kind === 'ip' && ipMatches(host.address, c);
}

/** Whether a CA with these constraints may sign for this host (as Go and OpenSSL decide). */
export function permits(nc: NameConstraints | undefined, host: Host): boolean {
  if (!nc) return true;
  if (nc.excluded.some((c) => matches(host, c))) return false;
  const sameForm = nc.permitted.filter((c) => c.kind === host.kind);
  return sameForm.length === 0 || sameForm.some((c) => matches(host, c));
}

function maskBytes(prefix: number, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += String.fromCharCode(0xff & (0xff00 >> Math.max(0, Math.min(8, prefix - i * 8))));
  return out;
}

function generalName(c: Constraint): forge.asn1.Asn1 {
  if (c.kind === 'dns') return asn1.create(asn1.Class.CONTEXT_SPECIFIC, TAG_DNS, false, c.domain);
  if (c.kind === 'ip') {
    // An iPAddress constraint is the address followed by its mask (RFC 5280).
    const bytes = ipUtil.bytesFromIP(c.address);
    return asn1.create(asn1.Class.CONTEXT_SPECIFIC, TAG_IP, false, bytes + maskBytes(c.prefix, bytes.length));
  }
  throw new Error(`cannot encode a name constraint of GeneralName tag ${c.tag}`);
}

function subtrees(tag: number, list: Constraint[]): forge.asn1.Asn1[] {
  if (list.length === 0) return [];
  const items = list.map((c) => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [generalName(c)]));
  return [asn1.create(asn1.Class.CONTEXT_SPECIFIC, tag, true, items)];
}

/** DER of the extension value (the NameConstraints SEQUENCE). */
export function encodeNameConstraints(nc: NameConstraints): forge.asn1.Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [...subtrees(0, nc.permitted), ...subtrees(1, nc.excluded)]);
}

function decodeGeneralName(node: forge.asn1.Asn1): Constraint {
  const value = typeof node.value === 'string' ? node.value : '';
  if (node.tagClass === asn1.Class.CONTEXT_SPECIFIC && node.type === TAG_DNS) return { kind: 'dns', domain: value };
  if (node.tagClass === asn1.Class.CONTEXT_SPECIFIC && node.type === TAG_IP && (value.length === 8 || value.length === 32)) {
    const half = value.length / 2;
    const prefix = [...value.slice(half)].reduce((n, c) => n + (c.charCodeAt(0).toString(2).match(/1/g)?.length ?? 0), 0);
    return { kind: 'ip', address: ipUtil.bytesToIP(value.slice(0, half)), prefix };
  }
  return { kind: 'other', tag: node.type };
}

/** Parses the extension value (DER bytes, as node-forge keeps unknown extensions). */
export function decodeNameConstraints(der: string): NameConstraints {
  const root = asn1.fromDer(der);
  const nc: NameConstraints = { permitted: [], excluded: [] };
  for (const part of Array.isArray(root.value) ? root.value : []) {
    const list = part.type === 0 ? nc.permitted : nc.excluded;
    for (const subtree of Array.isArray(part.value) ? part.value : []) {
      const base = Array.isArray(subtree.value) ? subtree.value[0] : undefined;
      if (base) list.push(decodeGeneralName(base));
    }
  }
  return nc;
}

export function describeConstraint(c: Constraint): string {
  if (c.kind === 'dns') return c.domain === '' ? 'DNS:(all names)' : `DNS:${c.domain}`;
  if (c.kind === 'ip') return `IP:${c.address}/${c.prefix}`;
  return `GeneralName[${c.tag}]`;
}
