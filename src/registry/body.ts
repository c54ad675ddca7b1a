// Request bodies. A body goes upstream only where the registry API takes one
// (a manifest, upload data), as opaque bytes: the client's Content-Type never
// reaches the registry on uploads (headers.ts writes its own), so Go never
// reads a body as a form whose values would come ahead of the query. Routes
// that take no body get none: a body there only holds an upstream socket open.
import type { IncomingMessage } from 'node:http';
import type { Route } from './routes.js';
import { invalid, type Invalid } from '../http/responses.js';

/** Whether the registry API takes a body on this request. */
export function takesBody(method: string, route: Route, path: string, params: ReadonlyMap<string, string>): boolean {
  if (route.kind !== 'repository') return false;
  if (route.resource === 'manifests') return method === 'PUT';
  if (route.resource !== 'uploads') return false;
  // A monolithic upload; a mount carries no body (its parameters are in the gateway's query only).
  if (path.endsWith('/uploads/')) return method === 'POST' && params.has('digest') && !params.has('mount');
  return method === 'PATCH' || method === 'PUT';
}

/** Why this request's body (or its announcement) is refused, or undefined. */
export function checkBody(req: IncomingMessage, allowed: boolean): Invalid | undefined {
  if (allowed) return undefined;
  const length = req.headers['content-length'];
  if (req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')) {
    return invalid(400, 'UNSUPPORTED', `${req.method} on this path takes no request body`);
  }
  return undefined;
}
