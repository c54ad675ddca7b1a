// The arithmetic of bench/compare.ts, apart from its processes: which build a
// --compare entry names, and the table of medians and per-round ratios.
import { median } from './measure.js';

/** A target: one value per build and round, higher or lower is better, and what it is held against. */
export interface Target { name: string; unit: string; higher: boolean; anchor?: string }

export const TARGETS: Target[] = [
  { name: 'manifest GET, Basic', unit: 'req/s', higher: true, anchor: 'direct' },
  { name: 'manifest GET, token', unit: 'req/s', higher: true, anchor: 'direct' },
  { name: 'blob GET, 1 stream', unit: 'MB/s', higher: true, anchor: 'nginx' },
  { name: 'blob GET, 3 streams', unit: 'MB/s', higher: true, anchor: 'nginx' },
  { name: 'blob GET, 8 streams', unit: 'MB/s', higher: true, anchor: 'nginx' },
  { name: 'upload, monolithic PUT', unit: 'MB/s', higher: true, anchor: 'nginx' },
  { name: 'upload, chunked PATCH', unit: 'MB/s', higher: true, anchor: 'nginx' },
  { name: 'new TLS connections', unit: '/s', higher: true, anchor: 'nginx' },
  { name: 'peak RSS, 8 parallel GETs', unit: 'MiB', higher: false },
  { name: 'gateway CPU per GiB pulled', unit: 's', higher: false },
  { name: 'gateway CPU per 1,000 manifest GETs', unit: 's', higher: false },
];

/** target -> system label -> one value per round, in round order */
export type Samples = Map<string, Map<string, number[]>>;

/** `REV` or `REV*N` (N processes); defaultWorkers when no `*N`. */
export function parseBuildSpec(spec: string, defaultWorkers: number): { rev: string; workers: number } | { error: string } {
  const star = spec.lastIndexOf('*');
  const rev = star === -1 ? spec : spec.slice(0, star);
  const workers = star === -1 ? defaultWorkers : Number(spec.slice(star + 1));
  if (rev === '') return { error: `--compare ${spec}: a revision comes first, such as 6aecdd5 or . (the working tree)` };
  if (!Number.isInteger(workers) || workers < 1) {
    return { error: `--compare ${spec}: after '*' comes a number of processes, such as ${rev}*2` };
  }
  return { rev, workers };
}

const fmt = (n: number, unit: string) =>
  (unit === 'MB/s' ? (n / 1e6).toFixed(0) : unit === 's' ? n.toFixed(3) : unit === 'MiB' ? n.toFixed(1) : n.toFixed(0));

/**
 * Per target: each build's median (and its ratio to the anchor's median),
 * then the last build (the working tree) against each other one: the ratio of
 * medians, and in brackets the lowest and highest ratio of one round's pair.
 * A bracket that straddles 1.00 is no evidence either way.
 */
export function ratioTable(samples: Samples, builds: string[], targets: Target[] = TARGETS): string {
  const head = builds.at(-1)!;
  const revs = builds.slice(0, -1);
  const lines = [
    `| target | ${builds.map((b) => `${b} (vs anchor)`).join(' | ')} | ${revs.map((r) => `${head} / ${r} (per round)`).join(' | ')} |`,
    `| --- |${' --- |'.repeat(builds.length + revs.length)}`,
  ];
  for (const t of targets) {
    const bySystem = samples.get(t.name);
    if (!bySystem) continue;
    const anchor = t.anchor ? bySystem.get(t.anchor) : undefined;
    const cells = builds.map((b) => {
      const xs = bySystem.get(b) ?? [];
      const value = `${fmt(median(xs), t.unit)} ${t.unit}`;
      return anchor ? `${value} (${(median(xs) / median(anchor)).toFixed(2)})` : value;
    });
    const ratios = revs.map((r) => {
      const a = bySystem.get(head) ?? [];
      const b = bySystem.get(r) ?? [];
      const perRound = a.map((x, i) => x / b[i]!);
      return `${(median(a) / median(b)).toFixed(2)} (${Math.min(...perRound).toFixed(2)}-${Math.max(...perRound).toFixed(2)})`;
    });
    lines.push(`| ${t.name}${t.higher ? '' : ' (lower is better)'} | ${cells.join(' | ')} | ${ratios.join(' | ')} |`);
  }
  const anchors = ['direct', 'nginx'].map((a) => `${a}: ${targets.filter((t) => samples.get(t.name)?.has(a))
    .map((t) => `${t.name} ${fmt(median(samples.get(t.name)!.get(a)!), t.unit)} ${t.unit}`).join(', ')}`);
  return `${lines.join('\n')}\n\nAnchors (medians) ${anchors.join('; ')}\n`;
}
