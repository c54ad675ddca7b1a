// The results: medians, ratios against the anchors, pass/fail per target,
// written as JSON, an SVG chart and the table in bench/README.md.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { median } from './measure.js';

export interface Results {
  date: string;
  quick: boolean;
  /** gateway processes (serve --workers) */
  workers?: number;
  cores: number;
  cpu: string;
  versions: Record<string, string>;
  blobMiB: number;
  seconds: number;
  reps: number;
  /** scenario -> system -> one value per repetition */
  scenarios: Record<string, Record<string, number[]>>;
  /** idle: after start; before: after the first (warm-up) repetition; after: once requestsBetween more were served. */
  memory?: { idleMiB?: number; peakMiBDuring8x: number; rssBeforeMiB: number; rssAfterMiB: number; requestsBetween: number };
}

interface Row {
  target: string;
  measured: string;
  ratio: number;
  goal: number;
  pass: boolean;
}

const MB = 1e6;
const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

export function rows(r: Results): Row[] {
  const m = (scenario: string, system: string) => median(r.scenarios[scenario]?.[system] ?? [NaN]);
  const out: Row[] = [];
  const ratio = (target: string, measured: string, value: number, anchor: number, goal: number, higherIsBetter = true) => {
    const q = value / anchor;
    out.push({ target, measured, ratio: q, goal, pass: higherIsBetter ? q >= goal : q <= goal });
  };
  const direct = m('manifestGet', 'direct');
  const basic = m('manifestGet', 'gateway-basic');
  const bestOther = Math.max(m('manifestGet', 'nginx'), m('manifestGet', 'distribution'));
  ratio('1. manifest GET, Basic, 16 conns vs direct', `${fmt(basic)} vs ${fmt(direct)} req/s`, basic, direct, 0.8);
  ratio('1. manifest GET, Basic vs best of nginx/distribution', `${fmt(basic)} vs ${fmt(bestOther)} req/s`, basic, bestOther, 20);
  ratio('2. manifest GET, bearer token vs direct', `${fmt(m('manifestGet', 'gateway-token'))} vs ${fmt(direct)} req/s`, m('manifestGet', 'gateway-token'), direct, 0.8);
  const transfers = [
    ['blobGet1', '3. blob GET, 1 stream'], ['blobGet3', '3. blob GET, 3 streams'], ['blobGet8', '3. blob GET, 8 streams'],
    ['uploadPut', '4. upload, monolithic PUT'], ['uploadPatch', '4. upload, chunked PATCH'],
  ] as const;
  for (const [scenario, label] of transfers) {
    if (!r.scenarios[scenario]) continue; // runs from before blobGet3
    ratio(`${label} vs nginx`, `${fmt(m(scenario, 'gateway-basic') / MB)} vs ${fmt(m(scenario, 'nginx') / MB)} MB/s`, m(scenario, 'gateway-basic'), m(scenario, 'nginx'), 1.0);
  }
  if (r.memory) {
    out.push({ target: `5. peak RSS during 8 parallel ${r.blobMiB} MiB GETs`, measured: `${fmt(r.memory.peakMiBDuring8x, 1)} MiB`, ratio: r.memory.peakMiBDuring8x, goal: 150, pass: r.memory.peakMiBDuring8x <= 150 });
    const growth = r.memory.rssAfterMiB - r.memory.rssBeforeMiB;
    out.push({ target: `5. RSS growth over ${r.memory.requestsBetween} requests after warm-up`, measured: `${r.memory.idleMiB ? `idle ${fmt(r.memory.idleMiB, 1)}, warm ` : ""}${fmt(r.memory.rssBeforeMiB, 1)} -> ${fmt(r.memory.rssAfterMiB, 1)} MiB`, ratio: growth, goal: 10, pass: growth <= 10 });
  }
  ratio('6. new TLS connections/s vs nginx', `${fmt(m('tlsHandshakes', 'gateway-basic'))} vs ${fmt(m('tlsHandshakes', 'nginx'))} /s`, m('tlsHandshakes', 'gateway-basic'), m('tlsHandshakes', 'nginx'), 1.0);
  if (r.scenarios.tlsHandshakes?.['gateway-ecdsa']) {
    ratio('6. the same, ECDSA P-256 keys on both', `${fmt(m('tlsHandshakes', 'gateway-ecdsa'))} vs ${fmt(m('tlsHandshakes', 'nginx-ecdsa'))} /s`, m('tlsHandshakes', 'gateway-ecdsa'), m('tlsHandshakes', 'nginx-ecdsa'), 1.0);
    ratio('6. gateway ECDSA vs nginx RSA', `${fmt(m('tlsHandshakes', 'gateway-ecdsa'))} vs ${fmt(m('tlsHandshakes', 'nginx'))} /s`, m('tlsHandshakes', 'gateway-ecdsa'), m('tlsHandshakes', 'nginx'), 1.0);
  }
  const p99 = m('floodP99Ms', 'gateway-basic');
  const failedDuringFlood = Math.max(0, ...(r.scenarios.floodNon2xx?.['gateway-basic'] ?? [0]));
  out.push({ target: '7. p99 of authenticated requests under 20 wrong passwords/s', measured: `${fmt(p99, 1)} ms (${fmt(m('manifestP99Ms', 'gateway-basic'), 1)} ms without the flood, direct ${fmt(m('manifestP99Ms', 'direct'), 1)} ms; ${failedDuringFlood} failed)`, ratio: p99, goal: 50, pass: p99 < 50 && failedDuringFlood === 0 });
  // Shared failed-login counters (README, Scaling out): the same requests with Redis on and off.
  if (r.scenarios.manifestGet?.['gateway-basic-redis']) {
    for (const [label, off] of [['Basic', 'gateway-basic'], ['bearer token', 'gateway-token']] as const) {
      const on = m('manifestGet', `${off}-redis`);
      ratio(`8. manifest GET, ${label}, Redis on vs off`, `${fmt(on)} vs ${fmt(m('manifestGet', off))} req/s`, on, m('manifestGet', off), 0.9);
    }
  }
  return out;
}

function table(r: Results): string {
  // Every system measured, in the order first seen (direct, the gateways, nginx, distribution, the ECDSA pair).
  const systems = [...new Set(Object.values(r.scenarios).flatMap((bySystem) => Object.keys(bySystem)))];
  const lines = [
    `Run ${r.date}${r.quick ? ' (--quick)' : ''}${(r.workers ?? 1) > 1 ? `, gateway with --workers ${r.workers} (memory figures: the primary only)` : ''} on ${r.cores} cores (${r.cpu}); Node ${r.versions.node}, nginx ${r.versions.nginx}, distribution ${r.versions.distribution}, OpenSSL ${r.versions.openssl}, wrk ${r.versions.wrk}. Medians of ${r.reps} run(s), ${r.seconds} s each, layer ${r.blobMiB} MiB.`,
    '',
    '| target | measured | ratio or value | goal | met |',
    '| --- | --- | --- | --- | --- |',
    ...rows(r).map((x) => `| ${x.target} | ${x.measured} | ${fmt(x.ratio, 2)} | ${x.target.startsWith('5.') || x.target.startsWith('7.') ? '<= ' : '>= '}${x.goal} | ${x.pass ? 'yes' : '**no**'} |`),
    '',
    '| scenario | ' + systems.join(' | ') + ' |',
    `| --- |${' --- |'.repeat(systems.length)}`,
    ...Object.entries(r.scenarios).map(([scenario, bySystem]) => `| ${scenario} | ${systems.map((s) => {
      const v = bySystem[s];
      if (!v) return '';
      const x = median(v);
      return scenario.startsWith('blob') || scenario.startsWith('upload') ? `${fmt(x / MB)} MB/s` : scenario.endsWith('Ms') ? `${fmt(x, 1)} ms` : scenario === 'floodNon2xx' ? fmt(x) : `${fmt(x)} /s`;
    }).join(' | ')} |`),
  ];
  return `${lines.join('\n')}\n`;
}

/** A horizontal bar per target: ratio against its goal, green when met. */
function svg(r: Results): string {
  const data = rows(r);
  const W = 1100;
  const rowH = 28;
  const H = 40 + data.length * rowH;
  const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const bars = data.map((x, i) => {
    const y = 30 + i * rowH;
    // Share of the goal reached (for "at most" goals, goal/value), capped at 2x.
    const lowerIsBetter = x.target.startsWith('5.') || x.target.startsWith('7.');
    const share = Math.max(0, Math.min(2, lowerIsBetter ? x.goal / Math.max(x.ratio, 1e-9) : x.ratio / x.goal));
    const width = Number.isFinite(share) ? share * 200 : 0;
    return `<text x="10" y="${y + 17}" font-size="12">${escape(x.target)}</text>` +
      `<rect x="470" y="${y + 4}" width="${width.toFixed(1)}" height="18" fill="${x.pass ? '#2e7d32' : '#c62828'}"/>` +
      `<line x1="670" y1="${y}" x2="670" y2="${y + rowH}" stroke="#333" stroke-dasharray="3,3"/>` +
      `<text x="880" y="${y + 17}" font-size="12">${escape(x.measured)}</text>`;
  }).join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n<text x="10" y="18" font-size="14" font-weight="bold">registry-gateway: each bar is the share of its goal (dashed line = goal met)</text>\n${bars}\n</svg>\n`;
}

export function report(r: Results, benchDir: string): string {
  const results = join(benchDir, 'results');
  mkdirSync(results, { recursive: true });
  // One table (and results file) for the oldest supported Node, one for Node 24 (the image's runtime).
  const block = Number(r.versions.node?.replace(/^v/, '').split('.')[0]) >= 24 ? 'results-node24' : 'results';
  const suffix = block === 'results' ? '' : '-node24';
  writeFileSync(join(results, `latest${suffix}.json`), `${JSON.stringify({ ...r, targets: rows(r) }, null, 2)}\n`);
  writeFileSync(join(results, `latest${suffix}.svg`), svg(r));
  const text = table(r);
  const readme = join(benchDir, 'README.md');
  const start = `<!-- ${block}:start -->`;
  const end = `<!-- ${block}:end -->`;
  const current = readFileSync(readme, 'utf8');
  const i = current.indexOf(start);
  const j = current.indexOf(end);
  if (i !== -1 && j > i && !r.quick && (r.workers ?? 1) === 1) writeFileSync(readme, `${current.slice(0, i + start.length)}\n${text}${current.slice(j)}`);
  return text;
}
