// Platforms as chips: linux/amd64, linux/arm64/v8.
import { isAttestation, platformLabel } from '../lib/format.js';
import type { Platform } from '../lib/types.js';

export function Platforms({ platforms }: { platforms: Platform[] }) {
  const shown = platforms.filter((p) => !isAttestation(p));
  if (shown.length === 0) return <span class="muted">—</span>;
  return (
    <ul class="chips" aria-label="Platforms">
      {shown.map((p) => (
        <li class="chip" key={platformLabel(p)}>{platformLabel(p)}</li>
      ))}
    </ul>
  );
}
