// The one interface every auth mode implements, after distribution's
// registry/auth: given a request and the access it needs, answer with a grant
// or a challenge. The server never knows which mode it runs.
import type { IncomingMessage } from 'node:http';
import type { Access } from './access.js';

export type Decision =
  | { kind: 'grant'; account: string; granted: Access[] }
  | {
      kind: 'challenge';
      status: 401 | 403 | 429 | 503;
      code: 'UNAUTHORIZED' | 'DENIED' | 'TOOMANYREQUESTS' | 'UNAVAILABLE';
      message: string;
      headers: Record<string, string>;
      account?: string;
    };

export interface AccessController {
  authorized(req: IncomingMessage, access: Access[]): Promise<Decision>;
  /** Which repositories of a list an account may pull (for the catalog). */
  canPull(account: string, name: string): boolean;
  close(): Promise<void>;
}

/** Splits asked access into granted, and whether anything required was refused. */
export function decide(access: Access[], allowed: (a: Access) => boolean): { granted: Access[]; refused: boolean } {
  const granted = access.filter(allowed);
  return { granted, refused: access.some((a) => !a.optional && !granted.includes(a)) };
}
