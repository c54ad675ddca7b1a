// Registry addresses as nodes name them: HOST[:PORT]. The directory name in
// every certs.d is exactly what image references use, so the port stays
// unless it is 443 (then Docker and containerd drop it too).
import { fail, GatewayError } from '../errors.js';
import { parseHost, type Host } from '../certs/hosts.js';

export interface Address {
  host: string;
  port: number;
  /** "host:port", or "host" for 443: the certs.d directory and mirror key. */
  name: string;
}

export function parseAddress(value: string): Address {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d{1,5}))?$/.exec(value.trim());
  if (!m) fail('INVALID_ARGUMENT', `invalid --host '${value}': expected HOST or HOST:PORT, e.g. registry.example.test:5443`);
  const port = m[2] === undefined ? 443 : Number(m[2]);
  if (port < 1 || port > 65535) fail('INVALID_ARGUMENT', `invalid --host '${value}': the port must be 1 to 65535`);
  let parsed: Host;
  try {
    parsed = parseHost(m[1]!.replace(/^\[|\]$/g, ''));
  } catch (err) {
    // Name the whole value typed, port included.
    if (err instanceof GatewayError) fail('INVALID_ARGUMENT', err.message.replace(/^invalid --host '[^']*'/, `invalid --host '${value}'`));
    throw err;
  }
  if (parsed.kind === 'dns' && parsed.name.startsWith('*.')) {
    fail('INVALID_ARGUMENT', `invalid --host '${value}': a registry address cannot be a wildcard`);
  }
  const host = parsed.kind === 'dns' ? parsed.name : parsed.version === 6 ? `[${parsed.address}]` : parsed.address;
  return { host, port, name: port === 443 ? host : `${host}:${port}` };
}
