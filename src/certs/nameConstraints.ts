// The X.509 name constraints extension (RFC 5280 4.2.1.10). node-forge knows
// its OID but has no builder, so it is encoded and decoded here with forge's
// ASN.1 API. A CA that every node trusts is limited to the registry's own names:
// even a stolen ca.key cannot then mint a certificate for any other site.
import forge from 'node-forge';
import type { Host } from './hosts.js';
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

/**
 * The constraints for a CA that serves these hosts. A wildcard permits its
 * parent domain (which covers every name one level below it). Constraints only
 * bind the name forms they mention, so a form with no permitted entry is
 * excluded outright: without that, a CA constrained to DNS names could still
 * sign for any IP address, and the reverse.
 */
export function constraintsFor(hosts: readonly Host[]): NameConstraints {
  const domains = [...new Set(hosts.flatMap((h) => (h.kind === 'dns' ? [h.name.replace(/^\*\./, '')] : [])))];
  const permittedDomains = domains.filter((d) => !domains.some((p) => p !== d && dnsMatches(d, p)));
  const ips = hosts.flatMap((h) => (h.kind === 'ip' ? [h] : []));
  const permitted: Constraint[] = [
    ...permittedDomains.map((domain): Constraint => ({ kind: 'dns', domain })),
    ...ips.map((h): Constraint => ({ kind: 'ip', address: h.address, prefix: h.version === 4 ? 32 : 128 })),
  ];
  const excluded: Constraint[] = [];
  if (permittedDomains.length === 0) excluded.push({ kind: 'dns', domain: '' });
  if (ips.length === 0) excluded.push({ kind: 'ip', address: '0.0.0.0', prefix: 0 }, { kind: 'ip', address: '::', prefix: 0 });
  return { permitted, excluded };
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
