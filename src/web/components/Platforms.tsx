// Platforms as chips: linux/amd64, linux/arm64/v8.
import { isAttestation, platformLabel } from '../lib/format.js';
import type { Platform } from '../lib/types.js';

/** `labelled`: false in a table cell, whose column header already names it ("Platforms: Platforms" otherwise). */
export function Platforms({ platforms, labelled = true }: { platforms: Platform[]; labelled?: boolean }) {
  const shown = platforms.filter((p) => !isAttestation(p));
  if (shown.length === 0) return <span class="muted">—</span>;
  return (
    <ul class="chips" aria-label={labelled ? 'Platforms' : undefined}>
      {shown.map((p) => (
        <li class="chip" key={platformLabel(p)}>{platformLabel(p)}</li>
      ))}
    </ul>
  );
}
