// What the probes answer (/livez, /startupz, /readyz), on the HTTPS listener
// and on the metrics listener alike. The body is a short plain-text list of
// reasons a person or `kubectl describe` can read; never an address or an
// error text, which are for the log (they would help an attacker aim past
// the gateway).
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface ProbeResult {
  ok: boolean;
  /** Why not, in a few public words each (e.g. 'draining', 'upstream registry unreachable'). */
  reasons: string[];
  /** /readyz?verbose: one line per readiness check, `[+]name ok` or `[-]name failed: reason`, excluded ones marked. */
  details?: string[];
}

export interface Probes {
  /** The event loop runs: a process that answers at all is alive. */
  live(): ProbeResult;
  /** Listening, with its first certificate and config loaded. */
  startup(): ProbeResult | Promise<ProbeResult>;
  /** Fit for new requests: every readiness check passes (but those excluded) and not draining. */
  /** `verbose`: run the excluded checks too, and say of each how it went (ProbeResult.details). */
  ready(exclude?: readonly string[], verbose?: boolean): Promise<ProbeResult>;
}

/**
 * The readiness checks by name, for `/readyz?exclude=NAME` (kube-apiserver's
 * convention). Kubernetes' readinessProbe excludes redis: were a Redis outage
 * to make every replica unready, the Service would lose all its endpoints
 * and refuse correct logins, when the gateway itself goes on with per-process
 * limits.
 */
export const READINESS_CHECKS = ['upstream', 'certificate', 'redis'] as const;

/** The names in ?exclude= (repeatable, or comma-separated); an unknown one is an error naming the known ones. */
export function excludedChecks(url: string | undefined): string[] | { error: string } {
  const query = new URLSearchParams((url ?? '').split('?')[1] ?? '');
  const names = query.getAll('exclude').flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
  const unknown = names.find((n) => !(READINESS_CHECKS as readonly string[]).includes(n));
  if (unknown !== undefined) return { error: `unknown readiness check '${unknown}' in exclude=; the checks are ${READINESS_CHECKS.join(', ')}` };
  return names;
}

export const PROBE_PATHS = { '/livez': 'live', '/startupz': 'startup', '/readyz': 'ready' } as const;
export type ProbePath = keyof typeof PROBE_PATHS;

export const isProbePath = (path: string): path is ProbePath => Object.hasOwn(PROBE_PATHS, path);

export function probeBody(result: ProbeResult): string {
  if (result.ok) return 'ok\n';
  return `not ready\n${result.reasons.map((r) => `- ${r}\n`).join('')}`;
}

export async function answerProbe(req: IncomingMessage, res: ServerResponse, path: ProbePath, probes: Probes): Promise<void> {
  const exclude = path === '/readyz' ? excludedChecks(req.url) : [];
  if (!Array.isArray(exclude)) {
    const message = `${exclude.error}\n`;
    res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(message), 'Cache-Control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : message);
    return;
  }
  const verbose = path === '/readyz' && new URLSearchParams((req.url ?? '').split('?')[1] ?? '').has('verbose');
  const result = path === '/readyz' ? await probes.ready(exclude, verbose) : await probes[PROBE_PATHS[path]]();
  const body = verbose && result.details ? `${probeBody(result)}${result.details.map((d) => `${d}\n`).join('')}` : probeBody(result);
  res.writeHead(result.ok ? 200 : 503, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
