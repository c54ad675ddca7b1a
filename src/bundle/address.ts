// Registry addresses as nodes name them: HOST:PORT. The directory name in
// every certs.d is exactly what image references use, so the port stays
// unless it is 443 (then Docker and containerd drop it too). The port must be
// written: a bare host would silently mean 443, while the gateway listens on
// 5443 by default, and every file in the bundle would name the wrong address.
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
  if (!m) fail('INVALID_ARGUMENT', `invalid --host '${value}': expected HOST:PORT, e.g. registry.example.test:5443`);
  if (m[2] === undefined) {
    const h = m[1]!;
    fail('INVALID_ARGUMENT', `invalid --host '${value}': no port. Write ${h}:5443 (the gateway listens on 5443 by default), ` +
      `or ${h}:443 if it really serves on 443`);
  }
  const port = Number(m[2]);
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
