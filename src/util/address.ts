// Client addresses as the limits see them. An IPv6 client usually holds a
// whole /64 (SLAAC, privacy addresses): counted per address, one host would
// get 2^64 times everyone's share, so IPv6 is keyed by its /64.
import { isIPv6 } from 'node:net';

/** The peer address without the IPv4-mapped prefix Node reports on dual-stack sockets. */
export function plainAddress(remote: string | undefined): string {
  const a = remote ?? '';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/** The key a client's limits are counted under: the IPv4 address, or the IPv6 /64. */
export function addressKey(remote: string | undefined): string {
  const a = plainAddress(remote);
  if (!isIPv6(a)) return a;
  const [head = '', tail = ''] = a.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const full = a.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${full.slice(0, 4).map((h) => (parseInt(h, 16) || 0).toString(16)).join(':')}::/64`;
}
