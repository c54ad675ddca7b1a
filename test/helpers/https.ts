// A small HTTPS client for tests that trusts exactly the given CA.
import https from 'node:https';

export interface Reply {
  status: number;
  headers: import('node:http').IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  json: () => any;
}

export interface RequestOptions {
  ca: string;
  method?: string;
  user?: string;
  /** An array sends the header once per value (duplicated Authorization tests). */
  headers?: Record<string, string | string[]>;
  body?: Buffer | string;
  localAddress?: string;
  agent?: https.Agent;
}

export function request(url: string, opts: RequestOptions = { ca: '' }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | string[]> = { ...(opts.headers ?? {}) };
    if (opts.user) headers.authorization = `Basic ${Buffer.from(opts.user).toString('base64')}`;
    const req = https.request(url, { method: opts.method ?? 'GET', ca: opts.ca, headers, agent: opts.agent ?? false, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, body, json: () => JSON.parse(body.toString()) });
      });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}
