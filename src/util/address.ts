// Client addresses as the limits see them. An IPv6 client usually holds a
// whole /64 (SLAAC, privacy addresses): counted per address, one host would
// get 2^64 times everyone's share, so IPv6 is keyed by its /64.
import { isIPv6 } from 'node:net';

/** The peer address without the IPv4-mapped prefix Node reports on dual-stack sockets. */
export function plainAddress(remote: string | undefined): string {
  const a = remote ?? '';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/** An IPv6 address's eight groups as numbers. */
function groups(a: string): number[] {
  const [head = '', tail = ''] = a.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const full = a.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return full.map((h) => parseInt(h, 16) || 0);
}

/** The key a client's connection and upstream limits are counted under: the IPv4 address, or the IPv6 /64. */
export function addressKey(remote: string | undefined): string {
  const a = plainAddress(remote);
  if (!isIPv6(a)) return a;
  return `${groups(a).slice(0, 4).map((h) => h.toString(16)).join(':')}::/64`;
}

/**
 * The source password checks are counted under, the one grouping of every
 * login limit (failures per source, the (user, source) taint, the order and
 * the cap of queued checks): the IPv4 address, or the IPv6 /56. A /56 is
 * what an ISP or a tunnel broker commonly gives one customer (RIPE-690): a
 * /64 would give one customer 256 sources, a /48 would put 256 customers
 * in one.
 */
export function sourceKey(remote: string | undefined): string {
  const a = plainAddress(remote);
  if (!isIPv6(a)) return a;
  const g = groups(a);
  return `${[g[0]!, g[1]!, g[2]!, g[3]! & 0xff00].map((h) => h.toString(16)).join(':')}::/56`;
}
