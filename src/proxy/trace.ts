// Each request's ID, as W3C Trace Context has it: a client's `traceparent`
// is honoured (its trace ID is the request's ID, so the client's trace and
// the gateway's log line meet), else a new trace starts here. The upstream
// gets a `traceparent` with the same trace ID and the gateway's own span as
// parent, so the registry's log (and any tracer) joins the two hops.
import { randomFillSync } from 'node:crypto';

// Random bytes from a pool refilled 4 KiB at a time: two randomBytes calls per
// request were two getrandom syscalls, 16 µs of every manifest GET (a CPU profile).
const pool = Buffer.alloc(4096);
let used = pool.length;
function randomHex(bytes: number): string {
  if (used + bytes > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  used += bytes;
  return pool.toString('hex', used - bytes, used);
}

// version-traceid-parentid-flags, lower-case hex; version ff and all-zero IDs are invalid.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

export interface Trace {
  /** The trace ID: 32 hex digits. The request's ID in the access log. */
  id: string;
  /** The traceparent the upstream gets: this trace, the gateway's span as parent. */
  traceparent: string;
}

/** The trace a request belongs to: the incoming traceparent's when it is valid, else a new one. */
export function traceOf(header: string | string[] | undefined): Trace {
  const m = typeof header === 'string' ? TRACEPARENT.exec(header.trim()) : null;
  // A future version may add fields (the -.* tail); version 00 has exactly four.
  const valid = m !== null && m[1] !== 'ff' && !(m[1] === '00' && m[5] !== undefined)
    && !/^0+$/.test(m[2]!) && !/^0+$/.test(m[3]!);
  const id = valid ? m[2]! : randomHex(16);
  // Sampled as the caller decided; a new trace: not sampled (01 would ask tracers to record everything).
  const flags = valid ? m[4]! : '00';
  return { id, traceparent: `00-${id}-${randomHex(8)}-${flags}` };
}
