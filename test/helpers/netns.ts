// A test host: a network namespace joined to this one by a veth pair, with
// addresses from 198.18.0.0/15 (reserved for benchmarking, RFC 2544). Docker
// treats every registry on 127.0.0.0/8 as insecure and skips certificate
// checks, so proving that it trusts a CA needs an address outside loopback.
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { exec } from './exec.js';
import { onExit } from './cleanup.js';

export interface TestHost {
  name: string;
  /** The namespace's address (where servers listen). */
  address: string;
  /** Prefix to run a command inside it. */
  prefix: string[];
  remove(): Promise<void>;
}

async function ip(...args: string[]): Promise<void> {
  const r = await exec('ip', args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}

export async function createTestHost(): Promise<TestHost> {
  const id = randomBytes(3).toString('hex');
  const name = `gwtest-${id}`;
  const outside = `gwh${id}`;
  const inside = `gwn${id}`;
  const octet = (parseInt(id.slice(0, 2), 16) % 250) + 1;
  const [hostSide, nsSide] = [`198.18.${octet}.1`, `198.18.${octet}.2`];
  await ip('netns', 'add', name);
  const forget = onExit(() => {
    try { execFileSync('ip', ['link', 'del', outside], { stdio: 'ignore' }); } catch { /* gone with the namespace */ }
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  });
  const remove = async () => {
    await exec('ip', ['link', 'del', outside]);
    await exec('ip', ['netns', 'del', name]);
    forget();
  };
  try {
    await ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', inside);
    await ip('link', 'set', inside, 'netns', name);
    await ip('addr', 'add', `${hostSide}/30`, 'dev', outside);
    await ip('link', 'set', outside, 'up');
    await ip('netns', 'exec', name, 'ip', 'addr', 'add', `${nsSide}/30`, 'dev', inside);
    await ip('netns', 'exec', name, 'ip', 'link', 'set', inside, 'up');
    await ip('netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up');
  } catch (err) {
    await remove();
    throw err;
  }
  return { name, address: nsSide, prefix: ['ip', 'netns', 'exec', name], remove };
}
