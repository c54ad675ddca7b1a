// Every /ui response's headers, and the API's JSON answers and errors
// (`{ error: { code, message } }`, the web UI's own form: a browser is not a
// registry client). The CSP allows nothing but this origin's own files: no
// inline script or style, no frames, no plugins, forms only to here.
import type { ServerResponse } from 'node:http';

export const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  // For browsers older than frame-ancestors.
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

/** A refusal: the status, an UPPER_SNAKE code, a message naming the problem and the fix. */
export class UiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'UiError';
  }
}

// A body left unread (a refusal before reading it) closes the connection:
// a client trickling it must not hold the socket (http/responses.ts does the same).
function unreadBody(res: ServerResponse): boolean {
  const req = res.req;
  if (req.complete) return false;
  return req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
}

export function send(
  res: ServerResponse, status: number, type: string, body: string | Buffer | undefined, headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'Cache-Control': 'no-store',
    ...headers,
    ...(unreadBody(res) ? { Connection: 'close' } : {}),
    ...(body !== undefined ? { 'Content-Type': type, 'Content-Length': String(Buffer.byteLength(body)) } : {}),
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** The most bytes one JSON answer may hold: what builds them bounds them, and this is the last guard. */
export const JSON_MAX = 1024 * 1024;

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  if (Buffer.byteLength(body) > JSON_MAX) {
    const message = `the answer would be larger than ${JSON_MAX} bytes; ask for less (a smaller page, one platform)`;
    sendError(res, new UiError(502, 'TOO_LARGE', message, {}, headers));
    return;
  }
  send(res, status, 'application/json; charset=utf-8', body, headers);
}

export function sendError(res: ServerResponse, err: UiError): void {
  sendJson(res, err.status, { error: { code: err.code, message: err.message, ...err.extra } }, err.headers);
}
