// The image `npm run image` built in this checkout (dist/image/image.json,
// written by scripts/image.sh): the deploy commands name it by default, so a
// rebuild of a new commit (a new tag) is what they run.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export interface BuiltImage { name: string; tag: string; digest: string }

/** Undefined when none was built (or the file is not one image.sh writes). */
export async function builtImage(): Promise<BuiltImage | undefined> {
  const text = await readFile(fileURLToPath(new URL('../image/image.json', import.meta.url)), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const { name, tag, digest } = JSON.parse(text) as { name?: unknown; tag?: unknown; digest?: unknown };
    return typeof name === 'string' && typeof tag === 'string' && typeof digest === 'string' ? { name, tag, digest } : undefined;
  } catch {
    return undefined;
  }
}
