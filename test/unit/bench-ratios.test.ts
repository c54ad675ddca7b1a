import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBuildSpec, ratioTable, type Samples } from '../../bench/ratios.js';

test('a --compare entry names a revision and, after *, its number of processes', () => {
  assert.deepEqual(parseBuildSpec('6aecdd5', 1), { rev: '6aecdd5', workers: 1 });
  assert.deepEqual(parseBuildSpec('.*2', 1), { rev: '.', workers: 2 });
  assert.deepEqual(parseBuildSpec('/tmp/builds/x*3', 1), { rev: '/tmp/builds/x', workers: 3 });
  assert.match((parseBuildSpec('main*0', 1) as { error: string }).error, /after '\*' comes a number of processes, such as main\*2/);
  assert.match((parseBuildSpec('main*two', 1) as { error: string }).error, /number of processes/);
  assert.match((parseBuildSpec('*2', 1) as { error: string }).error, /a revision comes first/);
});

test('the table holds medians, ratios to the anchor, and the working tree against each revision with the per-round spread', () => {
  const samples: Samples = new Map([
    ['blob GET, 1 stream', new Map([
      ['nginx', [400e6, 420e6, 380e6]],
      ['old', [300e6, 360e6, 330e6]],
      ['working tree', [400e6, 390e6, 330e6]],
    ])],
    ['peak RSS, 8 parallel GETs', new Map([['old', [170, 160, 180]], ['working tree', [140, 150, 145]]])],
  ]);
  const text = ratioTable(samples, ['old', 'working tree']);
  const row = text.split('\n').find((l) => l.startsWith('| blob GET, 1 stream'))!;
  // Medians 330 and 390 MB/s, nginx 400: 0.825 (0.82 in binary floating point) and 0.975 of it; 390/330 = 1.18; per round 1.33, 1.08, 1.00.
  assert.equal(row, '| blob GET, 1 stream | 330 MB/s (0.82) | 390 MB/s (0.97) | 1.18 (1.00-1.33) |');
  // 140/170, 150/160, 145/180: 0.82, 0.94, 0.81.
  const rss = text.split('\n').find((l) => l.startsWith('| peak RSS'))!;
  assert.equal(rss, '| peak RSS, 8 parallel GETs (lower is better) | 170.0 MiB | 145.0 MiB | 0.85 (0.81-0.94) |');
  assert.match(text, /\| target \| old \(vs anchor\) \| working tree \(vs anchor\) \| working tree \/ old \(per round\) \|/);
  assert.match(text, /Anchors \(medians\) direct: ; nginx: blob GET, 1 stream 400 MB\/s/);
  // Targets without samples are left out.
  assert.doesNotMatch(text, /manifest GET/);
});
