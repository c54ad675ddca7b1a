// The pull client the user chose (docker, podman, ctr, skopeo): one at a time
// in the manifest page's picker and the tag rows' copy buttons, remembered in
// this browser (localStorage) and shared by every component on the page.
import { useEffect, useState } from 'preact/hooks';
import { CLIENTS, type Client } from './lib/pull.js';

const KEY = 'registry-gateway.pull-client';
const CHANGED = 'ui:pull-client';

function stored(): Client {
  try {
    const v = window.localStorage.getItem(KEY);
    return CLIENTS.includes(v as Client) ? (v as Client) : 'docker';
  } catch {
    return 'docker'; // storage refused (a locked-down browser): the default every time
  }
}

export function usePullClient(): [Client, (c: Client) => void] {
  const [client, setClient] = useState<Client>(stored);
  useEffect(() => {
    const update = () => setClient(stored());
    window.addEventListener(CHANGED, update);
    window.addEventListener('storage', update);
    return () => {
      window.removeEventListener(CHANGED, update);
      window.removeEventListener('storage', update);
    };
  }, []);
  return [client, (c: Client) => {
    try {
      window.localStorage.setItem(KEY, c);
    } catch {
      // Kept for this page only.
    }
    setClient(c);
    window.dispatchEvent(new Event(CHANGED));
  }];
}
