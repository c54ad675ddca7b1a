// Addresses and CIDRs, as `proxyProtocol.trusted` lists them, matched with
// Node's BlockList (no library needed for a prefix match).
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { plainAddress } from './address.js';

/** An address or CIDR as `proxyProtocol.trusted` takes it; a string is the problem. */
export function parseCidr(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | string {
  const [address = '', prefixText, extra] = text.trim().split('/');
  if (extra !== undefined) return `'${text}' has more than one '/'`;
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  if (!family) return `'${text}' is not an IP address or CIDR; expected e.g. 10.0.0.0/8, 192.0.2.10 or fd00::/8`;
  const max = family === 'ipv4' ? 32 : 128;
  const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= max)) return `'${text}': the prefix length must be 0 to ${max}`;
  if (prefix === 0) {
    return `'${text}' trusts every address: any client could then claim any address and escape its limits; ` +
      'list the load balancers\' (or nodes\') addresses';
  }
  return { address, prefix, family };
}

/** A matcher for the list (a BlockList) (Node's CIDR matcher); IPv4-mapped peers match IPv4 entries. */
export function cidrMatcher(cidrs: readonly string[]): (peer: string | undefined) => boolean {
  const list = new BlockList();
  for (const text of cidrs) {
    const c = parseCidr(text);
    if (typeof c === 'string') throw new Error(c); // validated with the config; here only by mistake
    list.addSubnet(c.address, c.prefix, c.family);
  }
  return (peer) => {
    const a = plainAddress(peer);
    return isIPv4(a) ? list.check(a, 'ipv4') : isIPv6(a) ? list.check(a, 'ipv6') : false;
  };
}
