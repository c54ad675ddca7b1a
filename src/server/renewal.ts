// `serve` renews its own server certificate: a gateway left running for a
// year must not start failing handshakes on the day server.crt expires. The
// new files are written atomically beside the old ones, and the TLS watch
// (tls.ts) loads them for new connections; open connections keep theirs.
import { X509Certificate } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import type { Logger } from '../util/log.js';
import { daysLeft } from '../certs/validity.js';

export interface RenewalSettings {
  cert: string;
  key: string;
  /** Renew when fewer days than this are left; 0: never. */
  before: number;
  /** Validity of the renewed certificate, in days. */
  days: number;
  everyMs: number;
}

export interface CertificateState {
  notAfter: string;
  daysLeft: number;
}

export async function certificateState(path: string, now = new Date()): Promise<CertificateState> {
  const cert = new X509Certificate(await readFile(path));
  return { notAfter: new Date(cert.validTo).toISOString(), daysLeft: daysLeft(cert, now) };
}

/**
 * Renews now if due. Never throws: a failed renewal is logged, and the
 * current certificate keeps serving until it is fixed.
 */
export async function renewIfDue(s: RenewalSettings, log: Logger, now = new Date(), atStart = false): Promise<boolean> {
  if (s.before === 0) return false;
  let state: CertificateState;
  try {
    state = await certificateState(s.cert, now);
  } catch (err) {
    // Not a renewal failure: at start the gateway's own start says what is wrong with
    // the file (once, with the fix); later the TLS watch keeps the loaded certificate.
    if (!atStart) log.warn({ error: (err as Error).message, cert: s.cert }, 'cannot read the server certificate to check its expiry');
    return false;
  }
  try {
    if (state.daysLeft >= s.before) return false;
    const dir = dirname(s.cert);
    const name = basename(s.cert, '.crt');
    // renewCert writes NAME.crt and NAME.key in one directory: only that layout is renewed in place.
    if (s.key !== join(dir, `${name}.key`) || !s.cert.endsWith('.crt')) {
      log.warn({ ...state, cert: s.cert, key: s.key }, 'server certificate expires soon; not renewed automatically because ' +
        'tls.cert and tls.key are not NAME.crt and NAME.key in one directory: renew it with gateway certs renew');
      return false;
    }
    if (!existsSync(join(dir, 'ca.key'))) {
      log.warn({ ...state, cert: s.cert }, `server certificate expires soon and ${join(dir, 'ca.key')} is not here: ` +
        'run gateway certs renew where the CA key is, then copy server.crt and server.key here');
      return false;
    }
    const ca = await certificateState(join(dir, 'ca.crt'), now);
    // A leaf cannot outlive its CA (clients reject the chain when the CA expires).
    const days = Math.min(s.days, ca.daysLeft);
    if (ca.daysLeft <= s.before) {
      log.error({ caDaysLeft: ca.daysLeft }, 'the CA itself expires soon: start a CA rollover (gateway certs rollover start)');
      if (days < 1) return false;
    }
    const { renewCert } = await import('../certs/issue.js');
    await renewCert({ dir, name, days }, { now, creator: 'gateway serve (renewal)', warn: (m) => log.warn(m) });
    log.info({ cert: s.cert, was: state, now: await certificateState(s.cert, now) }, 'server certificate renewed');
    return true;
  } catch (err) {
    log.error({ error: (err as Error).message, cert: s.cert }, 'server certificate renewal failed; keeping the current certificate');
    return false;
  }
}

/** Checks now, then every `everyMs`; returns the stop function. */
export async function startRenewal(s: RenewalSettings, log: Logger): Promise<() => void> {
  await renewIfDue(s, log, new Date(), true);
  if (s.before === 0) return () => {};
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void renewIfDue(s, log).finally(() => (running = false));
  }, s.everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
