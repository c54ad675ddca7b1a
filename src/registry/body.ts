// Request bodies. Go's FormValue parses an urlencoded or multipart body
// ahead of the query on POST, PUT and PATCH, so a form body would carry
// parameters the gateway never saw: refused on every route. Routes that take
// no body get none: a body there only holds an upstream socket open.
import type { IncomingMessage } from 'node:http';
import type { Route } from './routes.js';
import { invalid, type Invalid } from '../http/responses.js';

const FORM_TYPES = new Set(['application/x-www-form-urlencoded', 'multipart/form-data']);

/** Whether the registry API takes a body on this request. */
export function takesBody(method: string, route: Route, path: string, params: ReadonlyMap<string, string>): boolean {
  if (route.kind !== 'repository') return false;
  if (route.resource === 'manifests') return method === 'PUT';
  if (route.resource !== 'uploads') return false;
  if (path.endsWith('/uploads/')) return method === 'POST' && params.has('digest'); // a monolithic upload
  return method === 'PATCH' || method === 'PUT';
}

const refuse = (message: string): Invalid => invalid(400, 'UNSUPPORTED', message);

/** Why this request's body (or its announcement) is refused, or undefined. */
export function checkBody(req: IncomingMessage, allowed: boolean): Invalid | undefined {
  const types = req.rawHeaders.filter((_, i) => i % 2 === 0 && req.rawHeaders[i]!.toLowerCase() === 'content-type');
  if (types.length > 1) return refuse('more than one Content-Type header');
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (FORM_TYPES.has(type)) return refuse(`Content-Type ${type} is not accepted: the registry API takes no form bodies`);
  if (allowed) return undefined;
  const length = req.headers['content-length'];
  if (req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')) {
    return refuse(`${req.method} on this path takes no request body`);
  }
  return undefined;
}
