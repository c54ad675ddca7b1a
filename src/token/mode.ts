// auth.mode token: the gateway is its own token server. The mode builds the
// password check (for /token logins), the signing key ring, the Bearer
// controller and the /token endpoint. The ring follows its files: `gateway
// token rotate`, a retired certificate deleted, or a new Secret mounted on
// every replica take effect within seconds, without a signal (SIGHUP still
// reloads at once).
import { readdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { ModeFactory } from '../auth/mode.js';
import { createPasswords } from '../auth/passwords.js';
import type { TokenConfig } from '../config/config.js';
import type { Logger } from '../util/log.js';
import { watchFiles } from '../util/watchFiles.js';
import { bearerController } from './bearer.js';
import { createTokenEndpoint, TOKEN_PATHS } from './endpoint.js';
import type { KeyRing } from './keyring.js';
import { mintPullToken, type TokenSettings } from './tokens.js';

export function tokenSettings({ service, issuer, ttl, refreshTtl }: TokenConfig): TokenSettings {
  return { service, issuer, ttl, refreshTtl };
}

/** The signing key (created next to the CA at first start) and retired keys. */
export async function tokenKeyRing({ signingKey: keyPath, verifyKeys }: TokenConfig): Promise<KeyRing> {
  // Loaded in token mode only: @peculiar/x509 is sizeable and Basic mode needs none of it.
  const { ensureSigningKey, loadKeyRing } = await import('./keyring.js');
  await ensureSigningKey(keyPath, dirname(keyPath));
  return loadKeyRing(keyPath, verifyKeys);
}

/** How often the key files and their directory are looked at. */
export const KEY_POLL_MS = 1000;
/** `token rotate` renames two files and writes two: one reload once they have settled. */
const SETTLE_MS = 300;

/**
 * Calls onChange when the signing key, its certificate, a verifyKeys file or
 * the set of retired certificates beside the key (NAME-<time>.crt, which
 * rotate adds and an operator deletes) changes. Polled, as the other files
 * are (util/watchFiles.ts): renames and Kubernetes' Secret updates (a
 * symlink swapped) replace inodes that inotify would lose.
 */
export function watchKeyFiles({ signingKey, verifyKeys }: TokenConfig, onChange: () => void, intervalMs = KEY_POLL_MS): () => void {
  const dir = dirname(signingKey);
  const base = basename(signingKey).replace(/\.key$/, '');
  // The key and its certificate too: a file moved away and back keeps its
  // inode and mtime, which the stat watch alone would take for no change.
  const ours = new Set([basename(signingKey), `${base}.crt`]);
  const listing = (names: string[]) => names.filter((n) => ours.has(n) || (n.startsWith(`${base}-`) && n.endsWith('.crt'))).sort().join('\n');
  let listed: string | undefined;
  let stopped = false;
  // The certificate beside the key, as keyring.ts's certPathFor names it (keyring.ts loads only in token mode).
  const stopFiles = watchFiles([signingKey, `${signingKey.replace(/\.key$/, '')}.crt`, ...verifyKeys], onChange, intervalMs);
  const look = async () => {
    const now = listing(await readdir(dir).catch(() => []));
    if (stopped) return;
    if (listed !== undefined && now !== listed) onChange();
    listed = now;
  };
  void look();
  const timer = setInterval(() => void look(), intervalMs).unref();
  return () => {
    stopped = true;
    stopFiles();
    clearInterval(timer);
  };
}

/**
 * Reloads the ring when its files change. Never creates a key (that is
 * `token rotate`'s, and replicas racing to make one would each sign with
 * their own): a load that fails midway through a rotation keeps the current
 * ring, and the next change loads again.
 */
function followKeyFiles(config: TokenConfig, swap: (ring: KeyRing) => void, log: Logger): () => void {
  let timer: NodeJS.Timeout | undefined;
  let queue = Promise.resolve();
  const reload = () => (queue = queue.then(async () => {
    try {
      const { loadKeyRing } = await import('./keyring.js');
      const ring = await loadKeyRing(config.signingKey, config.verifyKeys);
      swap(ring);
      log.info({ keys: ring.jwks.keys.length, kid: ring.current.kid }, 'token keys changed on disk: reloaded');
    } catch (err) {
      log.warn({ error: (err as Error).message }, 'token keys changed on disk but do not load; keeping the current keys until they do');
    }
  }));
  const stop = watchKeyFiles(config, () => {
    clearTimeout(timer);
    timer = setTimeout(() => void reload(), SETTLE_MS).unref();
  });
  return () => {
    stop();
    clearTimeout(timer);
  };
}

export const tokenMode: ModeFactory<'token'> = async (ctx) => {
  const { config, log, policy } = ctx;
  const passwords = await createPasswords(ctx, config.auth.htpasswd);
  const settings = tokenSettings(config.auth.token);
  let ring = await tokenKeyRing(config.auth.token);
  const endpoint = createTokenEndpoint({
    ring: () => ring, settings, policy, login: passwords.login, userHash: passwords.userHash, clientAddress: ctx.clientAddress,
    maxScopes: config.limits.tokenScopes,
  });
  const stopFollowing = followKeyFiles(config.auth.token, (next) => (ring = next), log);
  return {
    controller: bearerController({ ring: () => ring, settings, realm: (req) => `${ctx.publicOrigin(req)}/token` }),
    endpoints: [{ paths: TOKEN_PATHS, kind: 'token', handle: endpoint }],
    accounts: {
      login: passwords.login,
      stamp: passwords.stamp,
      async pullToken(user) {
        const stamp = passwords.stamp(user);
        if (stamp === undefined) throw new Error(`no user '${user}'`);
        return mintPullToken(ring, settings, user, stamp);
      },
    },
    // SIGHUP (or a CA rollover's switch): sign with the current key, verify with all.
    async reload() {
      ring = await tokenKeyRing(config.auth.token);
      log.info({ keys: ring.jwks.keys.length }, 'token keys reloaded');
    },
    async close() {
      stopFollowing();
      await passwords.close();
    },
  };
};
