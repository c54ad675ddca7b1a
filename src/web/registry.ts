// The host:port clients pull from (the setup API's `registry`), asked once per
// page load; until it answers, the address this page came from.
import { api } from './api.js';
import { useEffect, useState } from 'preact/hooks';

let known: Promise<string> | null = null;

export function registryHost(): Promise<string> {
  known ??= api.setup().then(
    (s) => s.registry,
    () => {
      known = null;
      return window.location.host;
    },
  );
  return known;
}

/** `ready`: false while the page's own data loads (the tag list asks after its first rows, not beside them). */
export function useRegistryHost(ready = true): string {
  const [host, setHost] = useState(window.location.host);
  useEffect(() => {
    if (!ready) return;
    let live = true;
    void registryHost().then((h) => live && setHost(h));
    return () => {
      live = false;
    };
  }, [ready]);
  return host;
}
