// The setup API's per-runtime steps are plain strings, prose or a command;
// a command gets its own copy button. A command may end in a note after
// three spaces: "kind create cluster --config X   (every node mounts the CA)".

export type Step = { kind: 'text'; text: string } | { kind: 'command'; command: string; note: string | null };

// The programs the steps run; a sentence never starts with one of these followed by a space.
const PROGRAMS = ['docker', 'podman', 'ctr', 'nerdctl', 'crictl', 'curl', 'kubectl', 'kind', 'k3d', 'k3s', 'helm', 'skopeo', 'sudo', 'systemctl', 'gateway', 'sh', 'tar'];
const COMMAND = new RegExp(`^(?:\\$ )?(?:${PROGRAMS.join('|')}) \\S`);

export function parseStep(step: string): Step {
  const text = step.trim();
  if (!COMMAND.test(text)) return { kind: 'text', text };
  const command = text.replace(/^\$ /, '');
  const note = /^(.*?\S) {3,}\((.+)\)$/.exec(command);
  return note ? { kind: 'command', command: note[1]!, note: note[2]! } : { kind: 'command', command, note: null };
}
