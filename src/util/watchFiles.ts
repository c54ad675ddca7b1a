// Polling file watches: certificate and CA files are replaced by rename (a
// new inode), and some do not exist yet when watched (ca-next.crt).
import { unwatchFile, watchFile } from 'node:fs';

/** Calls onChange when a file appears, changes or goes (polled: watchFile sees files that do not exist yet). */
export function watchFiles(files: string[], onChange: () => void, intervalMs = 2000): () => void {
  const listener = (cur: { mtimeMs: number; ino: number }, prev: { mtimeMs: number; ino: number }) => {
    if (cur.mtimeMs !== prev.mtimeMs || cur.ino !== prev.ino) onChange();
  };
  files.forEach((f) => watchFile(f, { interval: intervalMs, persistent: false }, listener));
  return () => files.forEach((f) => unwatchFile(f, listener));
}

