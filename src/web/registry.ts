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

export function useRegistryHost(): string {
  const [host, setHost] = useState(window.location.host);
  useEffect(() => {
    let live = true;
    void registryHost().then((h) => live && setHost(h));
    return () => {
      live = false;
    };
  }, []);
  return host;
}
