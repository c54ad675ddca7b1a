// Certificate lifetimes, for the CA (build.ts), leaves (leaf.ts) and the
// days left that `certs show` and `serve`'s renewal report.
export const DAY_MS = 24 * 60 * 60 * 1000;
// Backdated so that a node whose clock runs a little slow still accepts a
// certificate issued a moment ago.
export const BACKDATE_MS = 5 * 60 * 1000;

/** Whole days until the certificate expires (0 on its last day). */
export function daysLeft(cert: { validTo: string }, now: Date): number {
  return Math.floor((new Date(cert.validTo).getTime() - now.getTime()) / DAY_MS);
}
