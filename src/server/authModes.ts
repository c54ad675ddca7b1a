// Which module builds each auth mode. Adding a mode is one entry here and
// one module implementing ModeFactory (auth/mode.ts).
import { htpasswdMode, noneMode } from '../auth/basic.js';
import type { ModeFactory } from '../auth/mode.js';
import { inAuthMode, type AuthModeName } from '../config/config.js';
import { tokenMode } from '../token/mode.js';

// Each factory is typed for its own mode's settings, so token mode reads
// auth.token with no check of its own: the mode is checked once, here.
function forMode<M extends AuthModeName>(mode: M, factory: ModeFactory<M>): ModeFactory {
  return (ctx) => {
    const { config } = ctx;
    if (!inAuthMode(config, mode)) throw new Error(`auth mode ${mode} given a config for ${config.auth.mode}`);
    return factory({ ...ctx, config });
  };
}

export const AUTH_MODES: Record<AuthModeName, ModeFactory> = {
  none: forMode('none', noneMode),
  htpasswd: forMode('htpasswd', htpasswdMode),
  token: forMode('token', tokenMode),
};
