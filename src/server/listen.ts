// Where the gateway listens: `[::]` means every address of both families
// where the kernel has IPv6, and IPv4 only where it has not; and which setup
// addresses can reach such a listener.
import { createServer, isIPv4, type Server } from 'node:net';
import type { Address } from '../bundle/address.js';

// `[::]` (the default) or an empty host: every address, IPv6 and IPv4 on one socket.
const ALL_ADDRESSES = '::';

function splitListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  return { host: listen.slice(0, i).replace(/^\[|\]$/g, '') || ALL_ADDRESSES, port: Number(listen.slice(i + 1)) };
}

/**
 * Whether this kernel has IPv6 to offer: binding [::1] fails with
 * EAFNOSUPPORT where IPv6 is compiled out or ipv6.disable=1, and with
 * EADDRNOTAVAIL where it is disabled by sysctl (binding [::] may still work then).
 */
function ipv6Available(): Promise<boolean> {
  return new Promise((done) => {
    const probe = createServer();
    probe.once('error', () => done(false));
    probe.listen({ port: 0, host: '::1', ipv6Only: true }, () => probe.close(() => done(true)));
  });
}

/** All addresses becomes all IPv4 addresses where there is no IPv6; an explicit address stays as given. */
export async function listenAddress(listen: string): Promise<{ host: string; port: number }> {
  const { host, port } = splitListen(listen);
  return host === ALL_ADDRESSES && !(await ipv6Available()) ? { host: '0.0.0.0', port } : { host, port };
}

/**
 * A setup command for [::1] cannot work against an IPv4 listener: IPv6
 * literals are left out then (unless nothing else is left, e.g. a publicUrl).
 */
export function reachableFrom(host: string, addresses: Address[]): Address[] {
  if (!isIPv4(host)) return addresses;
  const v4 = addresses.filter((a) => !a.host.startsWith('['));
  return v4.length > 0 ? v4 : addresses;
}


/**
 * Listens on host:port, or rejects with why not in words an operator can act
 * on. ipv6Only false: on [::], IPv4 clients arrive as ::ffff:a.b.c.d on the
 * same socket, whatever net.ipv6.bindv6only says.
 */
export async function bind(server: Server, host: string, port: number): Promise<void> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host, ipv6Only: false }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(code === 'EADDRINUSE' ? 'the port is in use'
      : code === 'EADDRNOTAVAIL' ? 'no interface has that address'
      : code === 'EACCES' ? 'ports below 1024 need root'
      : (code ?? (err as Error).message));
  }
}
