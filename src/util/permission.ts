// Why this process cannot read a file, in terms an operator can act on: which
// uid it runs as, which permission is missing and on what (the file, or a
// directory above it). A container running as uid 65532 over files written
// 0700 by root is the usual case; "create them" would be the wrong advice.
import { statSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';

const mode = (s: Stats) => `0${(s.mode & 0o777).toString(8).padStart(3, '0')}`;

/** Whether uid/gid may do `bit` (4 read, 1 search) by owner, group or other. */
function allowed(s: Stats, uid: number, gids: number[], bit: number): boolean {
  if (uid === 0) return bit !== 1 || (s.mode & 0o111) !== 0 || s.isDirectory();
  if (s.uid === uid) return (s.mode & (bit << 6)) !== 0;
  if (gids.includes(s.gid)) return (s.mode & (bit << 3)) !== 0;
  return (s.mode & bit) !== 0;
}

/** For a read that failed with EACCES/EPERM: what is missing, and the fix. Undefined for any other error. */
export function permissionProblem(path: string, err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if ((code !== 'EACCES' && code !== 'EPERM') || typeof process.getuid !== 'function') return undefined;
  const uid = process.getuid();
  const gids = [process.getgid!(), ...(process.getgroups?.() ?? [])];
  const who = `uid ${uid} (gid ${process.getgid!()})`;
  const full = resolve(path);
  // Top down: the first directory this uid cannot search is the one to fix.
  const dirs: string[] = [];
  for (let d = dirname(full); ; d = dirname(d)) {
    dirs.unshift(d);
    if (dirname(d) === d) break;
  }
  try {
    for (const d of dirs) {
      const s = statSync(d);
      if (!allowed(s, uid, gids, 1)) {
        return `permission denied: ${who} may not enter the directory ${d} (owner uid ${s.uid}, gid ${s.gid}, mode ${mode(s)}); ` +
          `give it search permission (chmod o+x, or g+x for gid ${s.gid}) or run as uid ${s.uid}`;
      }
    }
    const s = statSync(full);
    return `permission denied: ${who} may not read it (owner uid ${s.uid}, gid ${s.gid}, mode ${mode(s)}); ` +
      `make it readable by uid ${uid} (chown ${uid} ${path}, or chmod g+r with gid ${s.gid}) or run as uid ${s.uid}`;
  } catch {
    return `permission denied: ${who} may not read it or a directory above it`;
  }
}
