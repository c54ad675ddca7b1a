// The systems compared, all on loopback over the same storage, certificates
// and users: the upstream alone (direct), the gateway in both auth modes,
// nginx with distribution's auth_basic recipe, and distribution's own TLS and
// htpasswd.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startGateway, type GatewayProcess } from '../test/helpers/gateway.js';
import { freePort, startRegistry, waitForPort, type Registry } from '../test/helpers/registry.js';

export interface System {
  /** direct, gateway-basic, gateway-token, nginx, distribution, gateway-ecdsa, nginx-ecdsa, gateway-*-redis; compare.ts's builds. */
  name: string;
  url: string;
  /** Authorization header value, if any. */
  auth?: string;
  pid?: number;
  stop(): Promise<void>;
}

export interface Stage {
  work: string;
  certs: string;
  htpasswd: string;
  user: string;
  password: string;
  storage: string;
}

const basic = (s: Stage) => `Basic ${Buffer.from(`${s.user}:${s.password}`).toString('base64')}`;

export async function startDirect(s: Stage): Promise<{ system: System; registry: Registry }> {
  const registry = await startRegistry(s.work, { storage: s.storage });
  return { registry, system: { name: 'direct', url: registry.url, stop: registry.stop } };
}

/** `redis`: a URL for shared failed-login counters (README, Scaling out), named -redis. */
/** `cli`: another build's dist/cli/main.js (bench/compare.ts). */
export async function startGatewaySystem(
  s: Stage, upstream: string, mode: 'htpasswd' | 'token', workers?: number, name?: string, redis?: string, cli?: string,
): Promise<System & { gw: GatewayProcess }> {
  const port = await freePort();
  const gw = await startGateway(s.work, {
    listen: `127.0.0.1:${port}`,
    upstream,
    tls: { cert: join(s.certs, 'server.crt'), key: join(s.certs, 'server.key') },
    auth: { mode, htpasswd: s.htpasswd, ...(mode === 'token' ? { token: { service: `127.0.0.1:${port}`, signingKey: join(s.certs, 'token.key'), ttl: 3600 } } : {}) },
    ...(redis ? { redis: { url: redis, prefix: `bench-${port}:` } } : {}),
  }, { args: ['--workers', String(workers ?? 1)], ...(cli ? { cli } : {}) });
  return { name: name ?? `${mode === 'token' ? 'gateway-token' : 'gateway-basic'}${redis ? '-redis' : ''}`, url: gw.url, auth: basic(s), pid: gw.pid, gw, stop: async () => void (await gw.stop()) };
}

/** distribution's nginx recipe (docs/content/recipes/nginx.md), TLS 1.2/1.3 with the same certificate. */
/** `workers`: nginx's worker processes, as many as the gateway has (the targets compare like with like). */
export async function startNginx(s: Stage, upstream: string, name = 'nginx', workers = 1): Promise<System> {
  const port = await freePort();
  const dir = join(s.work, `nginx-${port}`);
  await (await import('node:fs/promises')).mkdir(join(dir, 'logs'), { recursive: true });
  // Workers run as the invoking user: the htpasswd file is (rightly) 0600.
  const conf = `${process.getuid?.() === 0 ? 'user root;\n' : ''}worker_processes ${workers};
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  upstream docker-registry { server ${new URL(upstream).host}; keepalive 64; }
  map $upstream_http_docker_distribution_api_version $docker_distribution_api_version { '' 'registry/2.0'; }
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${join(s.certs, 'server.crt')};
    ssl_certificate_key ${join(s.certs, 'server.key')};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache off; ssl_session_tickets off;
    client_max_body_size 0;
    chunked_transfer_encoding on;
    location = /trust/ca.crt { alias ${join(s.certs, 'ca.crt')}; }
    location /v2/ {
      auth_basic "Registry realm";
      auth_basic_user_file ${s.htpasswd};
      add_header 'Docker-Distribution-Api-Version' $docker_distribution_api_version always;
      proxy_pass http://docker-registry;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_read_timeout 900;
      proxy_request_buffering off;
      proxy_buffering off;
    }
  }
}
`;
  await writeFile(join(dir, 'nginx.conf'), conf);
  const child = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'ignore' });
  await waitForPort(port);
  return {
    name, url: `https://127.0.0.1:${port}`, auth: basic(s), pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGQUIT');
      await exited;
    },
  };
}

/** distribution alone: http.tls and auth.htpasswd (bcrypt on every request). */
export async function startDistribution(s: Stage): Promise<System> {
  const port = await freePort();
  const configPath = join(s.work, `distribution-${port}.yml`);
  await writeFile(configPath, JSON.stringify({
    version: 0.1,
    log: { level: 'error', accesslog: { disabled: true } },
    storage: { filesystem: { rootdirectory: s.storage } },
    http: { addr: `127.0.0.1:${port}`, tls: { certificate: join(s.certs, 'server.crt'), key: join(s.certs, 'server.key') } },
    auth: { htpasswd: { realm: 'bench', path: s.htpasswd } },
  }));
  const registry = await startRegistry(s.work, { storage: s.storage, port, configPath });
  return { name: 'distribution', url: `https://127.0.0.1:${port}`, auth: basic(s), stop: registry.stop };
}
