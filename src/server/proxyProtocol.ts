// PROXY protocol v1 and v2 (haproxy's proxy-protocol.txt): a load balancer,
// a NodePort with SNAT or a TLS-passthrough ingress connects from its own
// address, so every client would share one address's limits. Peers in
// `proxyProtocol.trusted` send the client's address in a header before the
// TLS bytes; the limits then count the client. A header from any other peer
// is a client claiming to be someone else, and is refused.
//
// The bytes are parsed by proxy-protocol-js (v1 text and v2 binary, no
// dependencies). It parses a whole header, not a stream: the framing here
// says where the header ends on a socket (v1: the CRLF within 107 bytes; v2:
// 16 bytes and the length they give), bounded, so a peer cannot make us
// buffer more than MAX_V2_HEADER bytes before TLS.
import { isIPv4, isIPv6 } from 'node:net';
import proxyProtocol from 'proxy-protocol-js';
import { plainAddress } from '../util/address.js';

const { V1ProxyProtocol, V2ProxyProtocol, Command } = proxyProtocol;

/** v2's 12-byte signature. */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_SIGNATURE = Buffer.from('PROXY ');
/** The spec's longest v1 line, CRLF included. */
export const MAX_V1_HEADER = 107;
/**
 * v2 addresses and TLVs: haproxy's own TLVs (ALPN, authority, SSL, unique
 * id) fit well inside this. The spec allows 64 KiB, but a header that long
 * from a load balancer is a misconfiguration, and buffering it a cost.
 */
export const MAX_V2_HEADER = 16 + 2048;

export type HeaderResult =
  /** A header of `length` bytes; `source` undefined: use the peer's address (LOCAL, UNKNOWN, AF_UNSPEC, AF_UNIX). */
  | { kind: 'header'; length: number; version: 1 | 2; source?: string }
  /** Not a PROXY header: the first bytes are something else (a TLS ClientHello). */
  | { kind: 'none' }
  /** The start of a header: wait for more bytes. */
  | { kind: 'incomplete' }
  | { kind: 'invalid'; reason: string };

const isPrefixOf = (buf: Buffer, signature: Buffer) =>
  buf.subarray(0, signature.length).equals(signature.subarray(0, Math.min(buf.length, signature.length)));

/** v2's 16 address bytes as the text Node uses, IPv4-mapped addresses as IPv4. */
function ipv6Text(bytes: readonly number[]): string {
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return bytes.slice(12).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return groups.join(':');
}

function parseV1(line: string): HeaderResult {
  // "PROXY UNKNOWN ...": the sender does not know; the spec says use the connection's own address.
  if (/^PROXY UNKNOWN( [^\r\n]*)?\r\n$/.test(line)) return { kind: 'header', length: line.length, version: 1 };
  let parsed;
  try {
    parsed = V1ProxyProtocol.parse(line);
  } catch {
    return { kind: 'invalid', reason: 'malformed PROXY v1 line' };
  }
  const { ipAddress, port } = parsed.source;
  const family = parsed.inetProtocol === 'TCP4' ? isIPv4 : isIPv6;
  if (!family(ipAddress) || !family(parsed.destination.ipAddress) || port > 65535 || parsed.destination.port > 65535) {
    return { kind: 'invalid', reason: `PROXY v1 addresses are not ${parsed.inetProtocol}` };
  }
  return { kind: 'header', length: line.length, version: 1, source: plainAddress(ipAddress) };
}

function parseV2(header: Buffer): HeaderResult {
  if ((header[12]! & 0xf0) !== 0x20) return { kind: 'invalid', reason: 'PROXY v2 header with an unknown version' };
  let parsed;
  try {
    parsed = V2ProxyProtocol.parse(new Uint8Array(header));
  } catch {
    return { kind: 'invalid', reason: 'malformed PROXY v2 header' };
  }
  // LOCAL: the balancer's own connection (its health check): the peer is the client.
  if (parsed.command === Command.LOCAL) return { kind: 'header', length: header.length, version: 2 };
  const address = parsed.proxyAddress as { sourceAddress?: { address: readonly number[] } };
  const bytes = address.sourceAddress?.address;
  if (bytes?.length === 4) return { kind: 'header', length: header.length, version: 2, source: bytes.join('.') };
  if (bytes?.length === 16) return { kind: 'header', length: header.length, version: 2, source: ipv6Text(bytes) };
  return { kind: 'header', length: header.length, version: 2 }; // AF_UNSPEC, AF_UNIX: no IP to use
}

/** Reads a PROXY header at the start of what a connection has sent so far. */
export function readHeader(buf: Buffer): HeaderResult {
  if (buf.length === 0) return { kind: 'incomplete' };
  if (isPrefixOf(buf, V2_SIGNATURE)) {
    if (buf.length < 16) return { kind: 'incomplete' };
    const length = 16 + buf.readUInt16BE(14);
    if (length > MAX_V2_HEADER) return { kind: 'invalid', reason: `PROXY v2 header of ${length} bytes (at most ${MAX_V2_HEADER})` };
    return buf.length < length ? { kind: 'incomplete' } : parseV2(buf.subarray(0, length));
  }
  if (isPrefixOf(buf, V1_SIGNATURE)) {
    const end = buf.indexOf('\r\n');
    if (end < 0) {
      return buf.length < MAX_V1_HEADER ? { kind: 'incomplete' } : { kind: 'invalid', reason: 'PROXY v1 line without CRLF in 107 bytes' };
    }
    if (end + 2 > MAX_V1_HEADER) return { kind: 'invalid', reason: 'PROXY v1 line longer than 107 bytes' };
    return parseV1(buf.subarray(0, end + 2).toString('latin1'));
  }
  return { kind: 'none' };
}

/** Whether the first bytes look like a PROXY header (of either version): what an untrusted peer may not send. */
export const looksLikeHeader = (buf: Buffer): boolean =>
  buf.length > 0 && (isPrefixOf(buf, V2_SIGNATURE) || isPrefixOf(buf, V1_SIGNATURE));
