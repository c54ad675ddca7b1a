// Every response the gateway makes itself, and its one error type. A
// refusal anywhere (a route, a query, a login, the token endpoint) is a
// RegistryError; sendRegistryError turns it into the registry's JSON error
// form (and OAuth2's error fields, where the token endpoint sets them), with
// the API version header exactly once.
import type { ServerResponse } from 'node:http';

export const API_VERSION_HEADER = 'Docker-Distribution-API-Version';
export const API_VERSION = 'registry/2.0';

// distribution's errcode names; it has no generic bad request, so UNSUPPORTED serves there.
export type RegistryErrorCode =
  | 'UNAUTHORIZED' | 'DENIED' | 'TOOMANYREQUESTS' | 'UNAVAILABLE' | 'NAME_INVALID' | 'NOT_FOUND' | 'UNSUPPORTED'
  | 'DIGEST_INVALID' | 'PAGINATION_NUMBER_INVALID' | 'SIZE_INVALID' | 'MANIFEST_INVALID' | 'MANIFEST_UNKNOWN' | 'RANGE_INVALID' | 'UNKNOWN';

/** What every refusal carries, wherever it is made. */
export interface RegistryErrorFields {
  status: number;
  code: RegistryErrorCode;
  message: string;
  headers?: Record<string, string>;
  /** OAuth2's `error` (RFC 6749 5.2), for the token endpoint's clients. */
  oauth?: string;
  detail?: unknown;
}

/** A refusal returned by a parser (a route, a query, a body): `kind` tells it from a result. */
export type Invalid = RegistryErrorFields & { kind: 'invalid' };

export const invalid = (status: number, code: RegistryErrorCode, message: string): Invalid => ({ kind: 'invalid', status, code, message });

/** A refusal thrown where returning is awkward (the token endpoint's nested checks). */
export class RegistryError extends Error implements RegistryErrorFields {
  constructor(
    readonly status: number,
    readonly code: RegistryErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly oauth?: string,
    readonly detail?: unknown,
  ) {
    super(message);
    this.name = 'RegistryError';
  }
}

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

export function sendRegistryError(res: ServerResponse, err: RegistryErrorFields): void {
  const errors = [{ code: err.code, message: err.message, detail: err.detail ?? null }];
  sendJson(res, err.status, err.oauth ? { error: err.oauth, error_description: err.message, errors } : { errors }, err.headers);
}

