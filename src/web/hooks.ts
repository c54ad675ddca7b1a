// Small hooks the pages share.
import { useEffect, useRef, useState } from 'preact/hooks';

export interface Async<T> {
  data: T | null;
  error: Error | null;
  loading: boolean;
}

/** Loads once per change of deps; a newer load aborts the older, so an old answer never lands last. */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): Async<T> {
  const [state, setState] = useState<Async<T>>({ data: null, error: null, loading: true });
  useEffect(() => {
    const controller = new AbortController();
    setState({ data: null, error: null, loading: true });
    load(controller.signal).then(
      (data) => !controller.signal.aborted && setState({ data, error: null, loading: false }),
      (error: Error) => !controller.signal.aborted && setState({ data: null, error, loading: false }),
    );
    return () => controller.abort();
  }, deps);
  return state;
}

/** value, once it has stayed the same for ms (search as you type without a request per key). */
export function useDebounced<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

/** Sets document.title for the page. */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · registry-gateway`;
  }, [title]);
}

/** A flag that is true for ms after set() (the "Copied" state). */
export function useFlash(ms: number): [boolean, () => void] {
  const [on, setOn] = useState(false);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  return [
    on,
    () => {
      setOn(true);
      clearTimeout(timer.current);
      timer.current = setTimeout(() => setOn(false), ms);
    },
  ];
}
