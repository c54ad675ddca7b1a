// A path the gateway answers itself before any registry check: the token
// server's /token and JWKS, /trust/. Whoever offers one decides inside it
// who may use it.
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface Endpoint {
  paths: ReadonlySet<string>;
  /** The `action` its requests are counted under in the metrics and the access log. */
  kind: 'token' | 'trust' | 'ui';
  /** Takes only some requests to its paths (the rest go on to the registry steps); all when absent. */
  takes?(req: IncomingMessage): boolean;
  handle(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void>;
}
