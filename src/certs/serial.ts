// Certificate serial numbers, for the CA and every leaf.
import { randomBytes } from 'node:crypto';

/**
 * A random positive 128-bit serial, DER-minimal: RFC 5280 wants serials unique
 * per CA and positive; random ones also avoid collisions between CAs re-created
 * on the same machine.
 */
export function randomSerial(): string {
  let bytes = randomBytes(16);
  while (bytes[0] === 0) bytes = randomBytes(16);
  const hex = bytes.toString('hex');
  return (bytes[0]! & 0x80 ? '00' : '') + hex;
}
