// /trust/ behind one fixed endpoint, for the CA rollover.
import type { Trust } from '../trust/endpoint.js';

/**
 * /trust/ as one endpoint whose content can be swapped: the handler takes its
 * endpoints once, and a CA rollover (certs/rollover.ts) changes what nodes are given.
 */
export function swappableTrust(initial: Trust): Trust & { swap(next: Trust): void } {
  let current = initial;
  return {
    get caSha256() { return current.caSha256; },
    get commands() { return current.commands; },
    get longCommands() { return current.longCommands; },
    get caFingerprints() { return current.caFingerprints; },
    get addresses() { return current.addresses; },
    paths: initial.paths, // the same files whatever the CAs
    kind: 'trust',
    handle: (req, res, path, query) => current.handle(req, res, path, query),
    swap(next) { current = next; },
  };
}

