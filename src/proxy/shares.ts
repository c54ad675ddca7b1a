// Each client's share of the upstream. The keep-alive pool to the registry is
// finite; without shares, one client holding many slow requests (or many
// anonymous ones) queues everyone else's behind its own. Requests in flight
// are counted per client address, per account, and for all anonymous
// requests together; over a share the answer is 429 at once, which the
// registry clients retry, rather than a wait in the pool's queue.
import { ANONYMOUS } from '../registry/access.js';

export interface ShareLimits {
  perAddress: number;
  perAccount: number;
  anonymous: number;
}

export type Refusal = { limit: 'upstreamPerAddress' | 'upstreamPerAccount' | 'upstreamAnonymous'; max: number };

export interface Shares {
  /** A release function, or the share that is used up. */
  acquire(address: string, account: string): (() => void) | Refusal;
  inFlight(): number;
}

export function createShares(limits: ShareLimits): Shares {
  const counts = new Map<string, number>();
  let total = 0;
  const get = (k: string) => counts.get(k) ?? 0;
  const add = (k: string, by: number) => {
    const n = get(k) + by;
    if (n === 0) counts.delete(k);
    else counts.set(k, n);
  };
  return {
    acquire(address, account) {
      const keys = [`a:${address}`, account === ANONYMOUS ? 'anonymous' : `u:${account}`];
      if (get(keys[0]!) >= limits.perAddress) return { limit: 'upstreamPerAddress', max: limits.perAddress };
      if (account === ANONYMOUS && get('anonymous') >= limits.anonymous) return { limit: 'upstreamAnonymous', max: limits.anonymous };
      if (account !== ANONYMOUS && get(keys[1]!) >= limits.perAccount) return { limit: 'upstreamPerAccount', max: limits.perAccount };
      keys.forEach((k) => add(k, 1));
      total++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        keys.forEach((k) => add(k, -1));
        total--;
      };
    },
    inFlight: () => total,
  };
}
