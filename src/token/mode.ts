// auth.mode token: the gateway is its own token server. The mode builds the
// password check (for /token logins), the signing key ring (reloaded on
// SIGHUP after `gateway token rotate`), the Bearer controller and the
// /token endpoint.
import { dirname } from 'node:path';
import type { ModeFactory } from '../auth/mode.js';
import { createPasswords } from '../auth/passwords.js';
import type { TokenConfig } from '../config/config.js';
import { bearerController } from './bearer.js';
import { createTokenEndpoint, TOKEN_PATHS } from './endpoint.js';
import type { KeyRing } from './keyring.js';
import type { TokenSettings } from './tokens.js';

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

export const tokenMode: ModeFactory<'token'> = async (ctx) => {
  const { config, log, policy } = ctx;
  const passwords = await createPasswords(ctx, config.auth.htpasswd);
  const settings = tokenSettings(config.auth.token);
  let ring = await tokenKeyRing(config.auth.token);
  const endpoint = createTokenEndpoint({
    ring: () => ring, settings, policy, login: passwords.login, userHash: passwords.userHash, clientAddress: ctx.clientAddress,
    maxScopes: config.limits.tokenScopes,
  });
  return {
    controller: bearerController({ ring: () => ring, settings, realm: (req) => `${ctx.publicOrigin(req)}/token` }),
    endpoints: [{ paths: TOKEN_PATHS, handle: endpoint }],
    // After `gateway token rotate`: sign with the new key, verify with both.
    async reload() {
      ring = await tokenKeyRing(config.auth.token);
      log.info({ keys: ring.jwks.keys.length }, 'token keys reloaded');
    },
    close: () => passwords.close(),
  };
};
