// The auth modes, apart from the schema: `gateway completion` offers them for
// --auth without loading zod.
export const AUTH_MODE_NAMES = ['none', 'htpasswd', 'token'] as const;
