// Every response the gateway makes itself: the registry's JSON error form and
// the API version header, exactly once.
import type { ServerResponse } from 'node:http';

export const API_VERSION_HEADER = 'Docker-Distribution-API-Version';
export const API_VERSION = 'registry/2.0';

export type RegistryErrorCode =
  | 'UNAUTHORIZED' | 'DENIED' | 'TOOMANYREQUESTS' | 'UNAVAILABLE' | 'NAME_INVALID' | 'NOT_FOUND' | 'UNSUPPORTED'
  | 'DIGEST_INVALID' | 'PAGINATION_NUMBER_INVALID' | 'UNKNOWN';

// A body the gateway answered without reading (a refusal, a challenge) is not
// drained for keep-alive: a client trickling it would hold the connection
// for the whole idle limit. The connection closes after the answer.
function unreadBody(res: ServerResponse): boolean {
  const req = res.req;
  if (req.complete) return false;
  return req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    ...(unreadBody(res) ? { Connection: 'close' } : {}),
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    [API_VERSION_HEADER]: API_VERSION,
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

export function sendError(res: ServerResponse, status: number, code: RegistryErrorCode, message: string, headers: Record<string, string> = {}, detail?: unknown): void {
  sendJson(res, status, { errors: [{ code, message, detail: detail ?? null }] }, headers);
}
