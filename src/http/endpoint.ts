// A path the gateway answers itself before any registry check: the token
// server's /token and JWKS, /trust/. Whoever offers one decides inside it
// who may use it.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** What an endpoint may add to its request's access-log line. */
export interface LogEntry {
  /** The account the request was answered for (the token server: whom it issued a token to). */
  user?: string;
}

export interface Endpoint {
  paths: ReadonlySet<string>;
  /** The `action` its requests are counted under in the metrics and the access log. */
  kind: 'token' | 'trust' | 'ui';
  /** Takes only some requests to its paths (the rest go on to the registry steps); all when absent. */
  takes?(req: IncomingMessage): boolean;
  handle(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams, entry?: LogEntry): Promise<void>;
}
