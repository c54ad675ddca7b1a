// The one interface every auth mode implements, after distribution's
// registry/auth: given a request and the access it needs, answer with a grant
// or a challenge. The server never knows which mode it runs. What the rules
// allow is the Policy's business (policy.ts), not the controller's: a mode
// only says who is asking and what its credentials prove.
import type { IncomingMessage } from 'node:http';
import type { RegistryErrorFields } from '../http/responses.js';
import type { Access } from '../registry/access.js';

export type Challenge = RegistryErrorFields & { kind: 'challenge'; headers: Record<string, string>; account?: string };

export type Decision = { kind: 'grant'; account: string; granted: Access[] } | Challenge;

export interface AccessController {
  authorized(req: IncomingMessage, access: Access[]): Promise<Decision>;
  /**
   * Whether the client's Authorization goes on to the upstream: only where
   * the upstream authenticates (auth.mode none); otherwise credentials stop
   * at the gateway.
   */
  readonly forwardsCredentials: boolean;
}

/** Splits asked access into granted, and whether anything required was refused. */
export function decide(access: Access[], allowed: (a: Access) => boolean): { granted: Access[]; refused: boolean } {
  const granted = access.filter(allowed);
  return { granted, refused: access.some((a) => !a.optional && !granted.includes(a)) };
}
