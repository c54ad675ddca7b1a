// The client a connection speaks for. Usually the TCP peer; behind a load
// balancer that sends a PROXY header (server/proxyProtocol.ts) the client
// the header names. Set on the raw socket before TLS starts; TLS sockets
// (the request's socket) find it through the raw socket they wrap.
import type { Socket } from 'node:net';
import { plainAddress } from './address.js';

const clients = new WeakMap<object, string>();

/** Records the client address a PROXY header gave for this (raw) connection. */
export function setClientAddress(raw: Socket, address: string): void {
  clients.set(raw, address);
}

/** The client's address for a raw or TLS socket: the PROXY header's when there was one, else the peer's. */
export function clientAddressOf(socket: Socket): string {
  // tls.TLSSocket keeps the net.Socket it wraps as _parent (Node's _tls_wrap, since 0.11).
  const parent = (socket as Socket & { _parent?: Socket | null })._parent;
  return clients.get(socket) ?? (parent ? clients.get(parent) : undefined) ?? plainAddress(socket.remoteAddress);
}
