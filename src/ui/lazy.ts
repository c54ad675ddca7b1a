// The web UI as an endpoint whose code loads on its first request: a gateway
// nobody browses does not hold it (about 5 MiB of live heap, which every full
// collection during a layer pull marks again; bench/README.md). The paths are
// known without the code, so the handler routes to it as before.
import type { Endpoint } from '../http/endpoint.js';

class UiPaths extends Set<string> {
  override has(path: string): boolean {
    return path === '/ui' || path.startsWith('/ui/');
  }
}

export const UI_PATHS: ReadonlySet<string> = new UiPaths();

export function lazyEndpoint(load: () => Promise<Endpoint>): Endpoint {
  let loaded: Promise<Endpoint> | undefined;
  return {
    paths: UI_PATHS,
    kind: 'ui',
    handle: async (req, res, path, query, entry) => {
      // A failed load is tried again by the next request rather than remembered.
      loaded ??= load().catch((err: unknown) => {
        loaded = undefined;
        throw err;
      });
      return (await loaded).handle(req, res, path, query, entry);
    },
  };
}
