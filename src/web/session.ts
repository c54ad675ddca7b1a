// Who is logged in, shared by the header and the pages.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Session } from './lib/types.js';

export interface SessionState {
  /** null until GET /ui/api/session has answered. */
  session: Session | null;
  setSession: (session: Session) => void;
  /** A message the next page shows once ("Deleted ..."). */
  flash: (message: string) => void;
}

export const SessionContext = createContext<SessionState>({
  session: null,
  setSession: () => {},
  flash: () => {},
});

export function useSession(): SessionState {
  return useContext(SessionContext);
}
