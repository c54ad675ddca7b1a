// Request bodies of the API: only where a route takes one (the login), JSON,
// at most 4 KiB, read in full before anything is done with it.
import type { IncomingMessage } from 'node:http';
import { UiError } from './reply.js';

export const MAX_BODY = 4 * 1024;

export const hasBody = (req: IncomingMessage): boolean =>
  req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';

/** Refuses a body on a route that takes none. */
export function noBody(req: IncomingMessage): void {
  if (hasBody(req)) throw new UiError(400, 'BODY_NOT_ALLOWED', `${req.method} ${req.url?.split('?')[0]} takes no body`);
}

/** The JSON object of the body (Content-Type was checked with the Origin: origin.ts). */
export function readJson(req: IncomingMessage, max = MAX_BODY): Promise<Record<string, unknown>> {
  const tooLarge = () => new UiError(413, 'BODY_TOO_LARGE', `the body is larger than ${max / 1024} KiB`);
  return new Promise((resolve, reject) => {
    // Refused before reading when the client says how much it will send.
    if (Number(req.headers['content-length'] ?? 0) > max) return reject(tooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= max) return void chunks.push(chunk);
      req.off('data', onData);
      req.pause();
      reject(tooLarge());
    };
    req.on('data', onData);
    req.on('error', reject);
    req.on('end', () => {
      let value: unknown;
      try {
        value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return reject(new UiError(400, 'BAD_JSON', 'the body is not valid JSON'));
      }
      if (!value || typeof value !== 'object' || Array.isArray(value)) {
        return reject(new UiError(400, 'BAD_JSON', 'the body must be a JSON object'));
      }
      resolve(value as Record<string, unknown>);
    });
  });
}

/** A string field of a body, present and within bounds. */
export function field(body: Record<string, unknown>, key: string, max: number): string {
  const v = body[key];
  if (typeof v !== 'string' || v === '') throw new UiError(400, 'BAD_REQUEST', `'${key}' is required: a non-empty string`);
  if (v.length > max) throw new UiError(400, 'BAD_REQUEST', `'${key}' is longer than ${max} characters`);
  return v;
}
