// The setup page's per-runtime steps: which strings are commands (a copy
// button each), with a trailing note split off; checked on the steps the
// gateway's setup API really sends (src/ui/setup.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseStep } from '../../src/web/lib/steps.js';
import { setupSteps } from '../../src/ui/setup.js';

test('commands are told from prose, and a note after three spaces is split off', () => {
  assert.deepEqual(parseStep('docker pull h:1/NAME:TAG'), { kind: 'command', command: 'docker pull h:1/NAME:TAG', note: null });
  assert.deepEqual(parseStep('$ systemctl restart containerd'), { kind: 'command', command: 'systemctl restart containerd', note: null });
  assert.deepEqual(parseStep('kind create cluster --config /opt/x/kind/cluster.yaml   (every node mounts the CA)'), {
    kind: 'command', command: 'kind create cluster --config /opt/x/kind/cluster.yaml', note: 'every node mounts the CA',
  });
  // A parenthesis without the three spaces belongs to the command.
  assert.deepEqual(parseStep('sh -c "(cd /tmp)"'), { kind: 'command', command: 'sh -c "(cd /tmp)"', note: null });
  assert.deepEqual(parseStep('Docker reads certs.d at each pull: no restart.'), { kind: 'text', text: 'Docker reads certs.d at each pull: no restart.' });
  assert.deepEqual(parseStep('Restart k3s (or k3s-agent) to read registries.yaml.'), { kind: 'text', text: 'Restart k3s (or k3s-agent) to read registries.yaml.' });
  assert.equal(parseStep('docker').kind, 'text');
});

test("the gateway's own steps: every command gets a copy button, no sentence does", () => {
  const steps = setupSteps('registry.test:5443', 'ab'.repeat(32), true);
  const commands = Object.values(steps).flat().map(parseStep).filter((s) => s.kind === 'command');
  const texts = Object.values(steps).flat().map(parseStep).filter((s) => s.kind === 'text');
  for (const c of commands) assert.doesNotMatch(c.command, /\.$|   \(/, `a command ends in prose: ${c.command}`);
  // Prose is sentences; a command missed would not end in a full stop.
  for (const t of texts) assert.match(t.text, /\.$/, `a command taken for prose: ${t.text}`);
  assert.ok(commands.some((c) => c.command === 'docker pull registry.test:5443/NAME:TAG'));
  assert.ok(commands.some((c) => c.command.startsWith('kubectl apply -f ') && c.note !== null));
  assert.ok(commands.some((c) => c.command.startsWith('curl -fsSk https://registry.test:5443/trust/ca.crt')));
});
