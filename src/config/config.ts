// gateway.yaml: parsed with the yaml library, validated with zod. An unknown
// key or a wrong type stops the start with the field's path and what was
// expected. Flags override the file.
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { fail } from '../errors.js';
import { AUTH_MODE_NAMES } from './authModes.js';
import { permissionProblem } from '../util/permission.js';
import { parseCidr } from '../util/cidr.js';

// A port alone (`listen: 5443`, YAML's number, or --listen 5443) is that port on every address, as ':5443' is.
const hostPort = z.preprocess(
  (v) => (typeof v === 'number' && Number.isInteger(v) ? `:${v}` : typeof v === 'string' && /^\d+$/.test(v.trim()) ? `:${v.trim()}` : v),
  z.string({ error: "expected host:port or a port, e.g. 5443, ':5443' or '127.0.0.1:5443'" })
    .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):\d{1,5}$/, "expected host:port or a port, e.g. 5443, '0.0.0.0:5443' or '[::]:5443'")
    .refine((v) => { const p = Number(v.slice(v.lastIndexOf(':') + 1)); return p >= 1 && p <= 65535; }, 'the port must be 1 to 65535'),
);
const url = (schemes: string[]) => z.string().refine((v) => {
  try {
    const u = new URL(v);
    return schemes.includes(u.protocol.slice(0, -1)) && u.pathname.replace(/\/$/, '') === '' && !u.search && !u.username;
  } catch {
    return false;
  }
}, `expected an ${schemes.join(' or ')} URL with no path, e.g. ${schemes[0]}://registry.example.test:5443`);

export const DEFAULT_UPSTREAM = 'http://127.0.0.1:5000';

// The hop to the registry: an https upstream verified against `ca` (unset: the
// system's CAs), a client certificate, and a shared Basic credential that the
// gateway adds to every request (never the client's), so that a client reaching
// the registry directly gets nothing.
const upstreamFields = z.strictObject({
  url: url(['http', 'https']),
  ca: z.string().min(1).optional(),
  cert: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
  username: z.string().regex(/^[^:\s]{1,128}$/, 'expected a user name without colons or spaces').optional(),
  // A file holding the password (a mounted Secret): never in this file.
  passwordFile: z.string().min(1).optional(),
}).superRefine((u, ctx) => {
  const problem = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
  if ((u.cert === undefined) !== (u.key === undefined)) {
    problem(u.cert === undefined ? 'cert' : 'key', 'a client certificate needs both upstream.cert and upstream.key');
  }
  if ((u.username === undefined) !== (u.passwordFile === undefined)) {
    problem(u.username === undefined ? 'username' : 'passwordFile',
      'the upstream credential needs both upstream.username and upstream.passwordFile');
  }
  if (!u.url.startsWith('https:')) {
    for (const key of ['ca', 'cert'] as const) {
      if (u[key] !== undefined) problem(key, `only used with TLS: make upstream.url https://, or remove upstream.${key}`);
    }
  }
});
/** How the gateway authenticates to the upstream and verifies it (paths, read at start). */
export type UpstreamClient = Omit<z.output<typeof upstreamFields>, 'url'>;

/**
 * The upstream shares when not set: anonymous callers together and one
 * account each a quarter of the pool, one address an eighth. Their sum with
 * one more account (3/4 + 1/8) still leaves an eighth free.
 */
export function defaultShares(upstreamSockets: number): { perAddress: number; perAccount: number; anonymous: number } {
  return {
    perAddress: Math.max(1, Math.floor(upstreamSockets / 8)),
    perAccount: Math.max(1, Math.floor(upstreamSockets / 4)),
    anonymous: Math.max(1, Math.floor(upstreamSockets / 4)),
  };
}

export const ACTIONS = ['pull', 'push', 'delete', '*'] as const;

const rule = z.strictObject({
  account: z.string(),
  name: z.string().regex(/^[a-z0-9._\-/*${}]+$/, 'expected a repository glob (letters a-z, digits, . _ - /, * and **, ${account})'),
  actions: z.array(z.enum(ACTIONS)).min(1),
});

const tokenFields = z.strictObject({
  // The "service" of challenges and the tokens' audience; default: publicUrl's host:port.
  service: z.string().regex(/^[^\s"]+$/, 'expected a name without spaces or quotes, e.g. registry.example.test:5443').optional(),
  issuer: z.string().min(1).default('registry-gateway'),
  ttl: z.number().int().min(60, 'at least 60: clients treat shorter lifetimes as 60 anyway').max(86_400).default(300),
  refreshTtl: z.number().int().min(60).default(2_592_000),
  signingKey: z.string().default('certs/token.key'),
  // More certificates of keys whose tokens still verify (keys retired by
  // `gateway token rotate` beside signingKey are found without this).
  verifyKeys: z.array(z.string()).default([]),
}).prefault({});

// Accepted in every mode, as before: none reads neither, token mode only htpasswd (its /token logins).
const authShared = {
  htpasswd: z.string().default('config/htpasswd'),
  realm: z.string().default('registry-gateway'),
};
// Nothing outside token mode reads auth.token: refused, not silently ignored.
const noToken = z.never({ error: 'only used with auth.mode token; remove it or set auth.mode: token' }).optional();

// One shape per mode, so that `auth.mode === 'token'` narrows to auth.token.
// An absent mode is htpasswd (the default literal also matches a missing key).
const auth = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('htpasswd').default('htpasswd'), ...authShared, token: noToken }),
  z.strictObject({ mode: z.literal('none'), ...authShared, token: noToken }),
  z.strictObject({ mode: z.literal('token'), ...authShared, token: tokenFields }),
], {
  // The message z.enum gave before the union: the same text for an unknown mode.
  error: (issue) => (issue.code === 'invalid_union'
    ? `Invalid option: expected one of ${AUTH_MODE_NAMES.map((m) => `"${m}"`).join('|')}`
    : undefined),
}).prefault({});

const fields = z.strictObject({
  // Every address: dual-stack where the kernel has IPv6, else IPv4 (server.ts falls back).
  listen: hostPort.default('[::]:5443'),
  publicUrl: url(['https']).optional(),
  // Unset: `gateway serve` uses DEFAULT_UPSTREAM, `gateway up` starts a local registry.
  // A URL, or the URL with how the gateway authenticates to it (upstreamClient below).
  upstream: z.union([url(['http', 'https']), upstreamFields], {
    error: (issue) => (issue.code === 'invalid_union' ? 'expected an http or https URL, or a mapping with url: (and ca, cert, key, '
      + 'username, passwordFile)' : undefined),
  }).optional(),
  tls: z.strictObject({
    cert: z.string().default('certs/server.crt'),
    key: z.string().default('certs/server.key'),
    clientCA: z.string().optional(),
    // `serve` renews the server certificate by itself (when ca.key is beside
    // it) once fewer than `before` days are left, for `days` more; checked at
    // start and every `every` seconds. before: 0 turns it off.
    renew: z.strictObject({
      before: z.number().int().min(0).max(365).default(30),
      days: z.number().int().min(2).max(825, 'at most 825: Apple clients refuse longer-lived TLS certificates').default(365),
      every: z.number().int().min(1).default(3600),
    }).prefault({}).refine((r) => r.before === 0 || r.days > r.before, {
      message: 'renew.days must be more than renew.before, or every check would renew again',
    }),
  }).prefault({}),
  auth,
  access: z.array(rule).optional(),
  timeouts: z.strictObject({
    idle: z.number().int().min(1).default(900),
    headers: z.number().int().min(1).default(30),
    // A TLS handshake is a few round trips; a client that has not finished
    // one by then holds a descriptor and TLS state for nothing.
    handshake: z.number().int().min(1).max(120).default(10),
    // A request body that sends nothing for this long is cut: a stalled
    // upload must not hold an upstream socket for the whole idle limit. The
    // same clock cuts a response the client stops reading.
    bodyStall: z.number().int().min(1).default(30),
    // A request body that moves fewer bytes than this in a bodyStall window
    // is cut too: a trickle (one byte now and then) is a stall that resets
    // the clock. 8 KiB in 30 s is 273 bytes a second, far below any real link.
    bodyMinBytes: z.number().int().min(1).max(1024 * 1024 * 1024, 'at most 1 GiB per window').default(8192),
    // Seconds a request waits for a socket to the upstream (the pool of
    // limits.upstreamSockets) before it is answered 503 with Retry-After.
    poolWait: z.number().int().min(1).max(300, 'at most 300: a client waiting longer has given up').default(10),
  }).prefault({}),
  // Every client's fair share (README, Security, Budgets). Addresses are IPv4
  // addresses or IPv6 /64s.
  limits: z.strictObject({
    // Client connections in all; 'auto': the descriptor limit minus room for
    // upstream sockets and files.
    connections: z.union([z.literal('auto'), z.number().int().min(16)]).default('auto'),
    connectionsPerAddress: z.number().int().min(1).default(128),
    // Requests in flight to the upstream, per client address and per account;
    // unset: an eighth and a quarter of upstreamSockets (shares.ts).
    upstreamPerAddress: z.number().int().min(1).optional(),
    upstreamPerAccount: z.number().int().min(1).optional(),
    // All anonymous requests in flight to the upstream together; unset: a quarter of upstreamSockets.
    upstreamAnonymous: z.number().int().min(1).optional(),
    // Sockets to the upstream in all (the keep-alive pool).
    upstreamSockets: z.number().int().min(8).default(256),
    // Scopes one token request may ask for.
    tokenScopes: z.number().int().min(1).max(1000).default(64),
  }).prefault({}).transform((l, ctx) => {
    const shares = defaultShares(l.upstreamSockets);
    const resolved = {
      ...l,
      upstreamPerAddress: l.upstreamPerAddress ?? shares.perAddress,
      upstreamPerAccount: l.upstreamPerAccount ?? shares.perAccount,
      upstreamAnonymous: l.upstreamAnonymous ?? shares.anonymous,
    };
    // One principal with the whole pool (or most of it) waits everyone else out.
    for (const key of ['upstreamPerAddress', 'upstreamPerAccount', 'upstreamAnonymous'] as const) {
      const half = Math.floor(l.upstreamSockets / 2);
      if (resolved[key] > half) {
        ctx.issues.push({
          code: 'custom', path: [key], input: resolved[key],
          message: `at most half of limits.upstreamSockets (${half}), so that one principal leaves the upstream to others; `
            + 'lower it or raise limits.upstreamSockets',
        });
      }
    }
    return resolved;
  }),
  // PROXY protocol v1/v2 (README, Kubernetes): connections from these
  // addresses (a load balancer, the nodes of a NodePort with SNAT, a
  // TLS-passthrough ingress) carry the client's address in a header, and the
  // limits count that client. A header from any other address is refused;
  // `required`: a trusted peer must send one.
  proxyProtocol: z.strictObject({
    trusted: z.array(z.string().superRefine((v, ctx) => {
      const c = parseCidr(v);
      if (typeof c === 'string') ctx.addIssue({ code: 'custom', message: c });
    })).min(1, 'list the addresses (CIDRs) of the load balancers or nodes that send PROXY headers, e.g. [10.0.0.0/8]').max(256),
    required: z.boolean().default(true),
  }).optional(),
  // Replicas behind one Service share failed-login counters here (README,
  // Scaling out). Unset: each process counts alone, as one gateway does.
  redis: z.strictObject({
    url: z.string().refine((v) => {
      try {
        const u = new URL(v);
        return (u.protocol === 'redis:' || u.protocol === 'rediss:') && u.hostname !== '' && !u.password && /^(\/\d{0,2})?$/.test(u.pathname) && !u.search;
      } catch {
        return false;
      }
    }, 'expected redis://host:6379 or rediss://host:6380, optionally with /DB; the password goes in redis.passwordFile, not the URL'),
    // A file holding the password (a mounted Secret): never in this file.
    passwordFile: z.string().optional(),
    // rediss:// only: the CA (a PEM file) that signed the server's certificate; unset: the system's CAs.
    ca: z.string().min(1).optional(),
    // Redis Sentinel: ioredis asks these where the master `name` is and follows failovers.
    // url then gives only the scheme (rediss:// for TLS) and the database.
    sentinel: z.strictObject({
      name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'expected the master\'s name as sentinel.conf has it, e.g. mymaster'),
      addresses: z.array(hostPort).min(1, 'expected at least one sentinel, host:port (e.g. redis-sentinel:26379)').max(16),
    }).optional(),
    // Key prefix, so several gateways can share one Redis.
    prefix: z.string().regex(/^[A-Za-z0-9:_.-]{1,64}$/, 'expected letters, digits and : _ . - (e.g. gateway:)').default('gateway:'),
    // Milliseconds a command may take; a slower Redis counts as down (per-process limits meanwhile).
    timeout: z.number().int().min(10).max(10_000).default(250),
  }).refine((r) => r.ca === undefined || r.url.startsWith('rediss:'), {
    path: ['ca'], message: 'only used with TLS: make redis.url rediss://host:6380, or remove redis.ca',
  }).optional(),
  // Prometheus metrics on their own plain-HTTP listener. Unset: off;
  // `metrics: {}` listens on loopback.
  metrics: z.strictObject({
    listen: hostPort.default('127.0.0.1:9464'),
    // Host names (besides the listen address, the machine's addresses and
    // $POD_IP) a scraper may use: any other Host is refused, so a web page
    // cannot read metrics through DNS rebinding.
    hosts: z.array(z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)$/, 'expected a host name or address, without a port'))
      .max(64).default(['localhost']),
  }).optional(),
  log: z.strictObject({
    // pino's levels: debug adds what each component does (Redis errors, reload details), trace more.
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], {
      error: 'expected one of trace, debug, info, warn, error, fatal, silent',
    }).default('info'),
    // Whether /livez, /readyz, /startupz and /healthz get an access log line: a
    // probe every few seconds from every node would bury the requests.
    probes: z.boolean().default(false),
  }).prefault({}),
  // SIGTERM: /readyz fails at once; after `delay` seconds (for load balancers
  // to notice) new connections are refused, and requests in flight get `grace`
  // seconds to finish. delay 0: nothing in front of `gateway up` or a plain
  // serve needs time to notice (`deploy kubernetes` writes 10 for endpoints
  // and cloud load balancers). grace 300: a push of a large layer must not be
  // cut at every rollout; it costs nothing when nothing is in flight (the
  // drain ends with the last request), and a stalled transfer is cut by
  // timeouts.bodyStall anyway. Within the cluster autoscaler's 600 s limit.
  shutdown: z.strictObject({
    delay: z.number().int().min(0).max(300).default(0),
    grace: z.number().int().min(0).max(3600).default(300),
  }).prefault({}),
});

type Fields = z.output<typeof fields>;
type TokenFields = Extract<Fields['auth'], { mode: 'token' }>;
/** auth.token with its service resolved (from publicUrl when not set). */
export type TokenConfig = TokenFields['token'] & { service: string };
export type AuthConfig = Exclude<Fields['auth'], { mode: 'token' }> | (TokenFields & { token: TokenConfig });
export type Config = Omit<Fields, 'auth' | 'upstream'> & {
  auth: AuthConfig;
  /** The upstream's URL (upstream, or upstream.url). */
  upstream?: string | undefined;
  /** upstream's other settings: the CA, client certificate and credential; empty for a plain URL. */
  upstreamClient: UpstreamClient;
};
export type AuthModeName = AuthConfig['mode'];
/** A config in one auth mode: `auth` is that mode's settings. */
export type ConfigFor<M extends AuthModeName> = Config & { auth: { mode: M } };

/** Narrows a config to one auth mode's, by checking that mode. */
export function inAuthMode<M extends AuthModeName>(config: Config, mode: M): config is ConfigFor<M> {
  return config.auth.mode === mode;
}

const SERVICE_REQUIRED = 'required in token mode (the name clients use, e.g. registry.example.test:5443), or set publicUrl';

// Cross-field rules: token mode needs a service name, its own or publicUrl's
// host:port; resolving it here leaves users a plain string.
export const configSchema = fields.transform((parsed, ctx): Config => {
  const { upstream: given, ...rest } = parsed;
  const { url: upstream, ...upstreamClient } = typeof given === 'string' ? { url: given } : given ?? { url: undefined };
  const config = { ...rest, upstream, upstreamClient };
  if (config.auth.mode !== 'token') return { ...config, auth: config.auth };
  const { token } = config.auth;
  const service = token.service ?? (config.publicUrl === undefined ? undefined : new URL(config.publicUrl).host);
  if (service === undefined) {
    ctx.issues.push({ code: 'custom', path: ['auth', 'token', 'service'], message: SERVICE_REQUIRED, input: token.service });
    return z.NEVER;
  }
  return { ...config, auth: { ...config.auth, token: { ...token, service } } };
});

export type AccessRule = z.infer<typeof rule>;

export interface Overrides {
  listen?: string;
  /** --port: the listen address's port, its host kept. */
  port?: number;
  upstream?: string;
  publicUrl?: string;
  certs?: string;
  htpasswd?: string;
  auth?: string;
  /** metrics.listen (turns metrics on). */
  metrics?: string;
}

function describeIssue(issue: z.core.$ZodIssue, source: string): string {
  const path = issue.path.length > 0 ? issue.path.map(String).join('.') : '(top level)';
  if (issue.code === 'unrecognized_keys') {
    const where = path === '(top level)' ? '' : `${path}: `;
    const keys = issue.keys.map((k) => `'${k}'`).join(', ');
    return `${source}: ${where}unknown key(s) ${keys}; check the spelling against config/gateway.yaml`;
  }
  return `${source}: ${path}: ${issue.message}`;
}

// A value that came from a flag is blamed on the flag, not on the file.
const FLAG_OF: Record<string, { name: string; key: keyof Overrides }> = {
  listen: { name: '--listen', key: 'listen' },
  upstream: { name: '--upstream', key: 'upstream' },
  'upstream.url': { name: '--upstream', key: 'upstream' },
  publicUrl: { name: '--public-url', key: 'publicUrl' },
  'auth.mode': { name: '--auth', key: 'auth' },
  'auth.htpasswd': { name: '--htpasswd', key: 'htpasswd' },
  'tls.cert': { name: '--certs', key: 'certs' },
  'tls.key': { name: '--certs', key: 'certs' },
  'metrics.listen': { name: '--metrics', key: 'metrics' },
};

function flagFor(path: readonly PropertyKey[], overrides: Overrides): { name: string; value: string } | undefined {
  const flag = FLAG_OF[path.map(String).join('.')];
  const value = flag ? overrides[flag.key] : undefined;
  return flag && value !== undefined && value !== '' ? { name: flag.name, value: String(value) } : undefined;
}

/** Validates a plain object (from YAML, plus overrides) into a Config. */
export function validateConfig(raw: unknown, overrides: Overrides, source: string): Config {
  const base = (raw ?? {}) as Record<string, unknown>;
  if (typeof base !== 'object' || Array.isArray(base)) fail('INVALID_CONFIG', `${source}: expected a mapping of settings at the top level`);
  const merged: Record<string, unknown> = { ...base };
  if (overrides.listen) merged.listen = overrides.listen;
  if (overrides.port !== undefined) {
    // The host of whatever listen says (flag, file or the default), with this port.
    const listen = String(merged.listen ?? '[::]:5443');
    merged.listen = `${/^\s*\d+\s*$/.test(listen) ? '' : listen.slice(0, Math.max(0, listen.lastIndexOf(':')))}:${overrides.port}`;
  }
  if (overrides.upstream) {
    const given = base.upstream;
    merged.upstream = given !== null && typeof given === 'object' ? { ...given, url: overrides.upstream } : overrides.upstream;
  }
  if (overrides.publicUrl) merged.publicUrl = overrides.publicUrl;
  if (overrides.metrics) merged.metrics = { ...(base.metrics as object ?? {}), listen: overrides.metrics };
  if (overrides.certs) {
    merged.tls = { ...(base.tls as object ?? {}), cert: `${overrides.certs}/server.crt`, key: `${overrides.certs}/server.key` };
  }
  if (overrides.htpasswd || overrides.auth) {
    const fileAuth: Record<string, unknown> = { ...(base.auth as object ?? {}) };
    // --auth none or htpasswd over a token-mode file: its auth.token was
    // written for that mode, so the flag sets it aside rather than refuse it.
    if (overrides.auth && overrides.auth !== 'token' && fileAuth.mode === 'token') delete fileAuth.token;
    merged.auth = {
      ...fileAuth,
      ...(overrides.htpasswd ? { htpasswd: overrides.htpasswd } : {}),
      ...(overrides.auth ? { mode: overrides.auth } : {}),
    };
  }
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const flag = flagFor(issue.path, overrides);
    if (flag) fail('INVALID_ARGUMENT', `invalid ${flag.name} '${flag.value}': ${issue.message}`);
    fail('INVALID_CONFIG', describeIssue(issue, source));
  }
  return parsed.data;
}

/**
 * The line a YAML error is at, with the one before it (an unclosed bracket or
 * quote shows there) and a caret under the column: the yaml library's own
 * excerpt is folded and sometimes shows the wrong line.
 */
export function excerpt(text: string, at: { line: number; col: number } | undefined): string {
  if (!at) return '';
  const lines = text.split(/\r?\n/);
  const width = String(at.line).length;
  const show = (no: number) => `  ${String(no).padStart(width)} | ${lines[no - 1] ?? ''}`;
  const caret = `  ${' '.repeat(width)} | ${' '.repeat(Math.max(0, at.col - 1))}^`;
  return [...(at.line > 1 ? [show(at.line - 1)] : []), show(at.line), caret].join('\n');
}

/** Reads and validates the config file; a missing file is fine when no --config was given. */
export async function loadConfig(path: string | undefined, overrides: Overrides): Promise<Config> {
  if (!path) return validateConfig({}, overrides, 'flags');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const denied = permissionProblem(path, err);
    if (denied) return fail('FILE_INVALID', `cannot read config ${path}: ${denied}`);
    return fail('FILE_MISSING', `cannot read config ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const doc = parseDocument(text, { uniqueKeys: true });
  const error = doc.errors[0];
  if (error) fail('INVALID_CONFIG', `${path}: ${error.message.split('\n')[0]!.replace(/:$/, '')}\n${excerpt(text, error.linePos?.[0])}`);
  return validateConfig(doc.toJS(), overrides, path);
}
