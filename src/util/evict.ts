// Bounded caches and tables keep insertion order (a Map iterates in it), so
// the first key is the oldest: the one to give up when there is no room.

/** Drops the oldest entries while `full()` says there is no room for one more. */
export function evictOldest<K>(map: Map<K, unknown>, full: () => boolean, drop: (key: K) => void = (key) => map.delete(key)): void {
  for (const key of map.keys()) {
    if (!full()) return;
    drop(key);
  }
}
