// Cross-site request forgery: a page elsewhere can make a browser send a
// POST or DELETE here with the session cookie (SameSite=Strict stops most
// of them, not a sibling subdomain's). So every state-changing request must
// say it comes from this origin: its Origin is the gateway's own (publicUrl's,
// or the https origin of the Host it came to), and a body is JSON, which no
// HTML form can send without a preflight.
import type { IncomingMessage } from 'node:http';
import { hasBody } from './body.js';
import { UiError } from './reply.js';

/** The origins this request may come from: publicUrl's, and the Host's it was sent to (URL drops :443, as browsers do). */
export function ownOrigins(host: string | undefined, publicOrigin: string | undefined): string[] {
  const origins = new Set<string>();
  if (publicOrigin) origins.add(new URL(publicOrigin).origin);
  if (host) {
    try {
      origins.add(new URL(`https://${host}`).origin);
    } catch {
      // Not a host: no origin of its own.
    }
  }
  return [...origins];
}

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Throws 403 ORIGIN for a state-changing request from anywhere else (or that
 * does not say where from), and 415 CONTENT_TYPE for a body that is not JSON.
 * Safe methods pass: they change nothing, and without CORS headers no other
 * page may read their answers.
 */
export function checkOrigin(req: IncomingMessage, allowed: readonly string[]): void {
  const method = req.method ?? '';
  if (!STATE_CHANGING.has(method)) return;
  const origin = req.headersDistinct.origin;
  const fix = 'send it from the web UI itself (a page on another origin, or a tool without Origin, cannot change anything here)';
  if (!origin || origin.length !== 1) throw new UiError(403, 'ORIGIN', `${method} needs one Origin header: ${fix}`);
  if (!allowed.includes(origin[0]!)) throw new UiError(403, 'ORIGIN', `Origin '${origin[0]}' is not this gateway's: ${fix}`);
  // Fetch metadata, where the browser sends it: the request's own word that it is same-origin.
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') throw new UiError(403, 'ORIGIN', `Sec-Fetch-Site is '${site}', not same-origin: ${fix}`);
  if (hasBody(req) && !isJson(req.headers['content-type'])) {
    throw new UiError(415, 'CONTENT_TYPE', `a ${method} body must be Content-Type: application/json, not '${req.headers['content-type'] ?? ''}'`);
  }
}

export function isJson(type: string | undefined): boolean {
  return type !== undefined && /^application\/json[ \t]*(;[ \t]*charset=("?)utf-8\2[ \t]*)?$/i.test(type);
}
