// axe-core in the UI's browser tests, run in the page playwright-core already
// drives (no browser of its own). axe-core itself, not @axe-core/playwright:
// that wrapper asks for Node 22, and the gateway and its tests run on 20.
// The rule set is the audit's: WCAG 2.0 and 2.1, A and AA, and axe's best practices.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AxeResults } from 'axe-core';
import type { Page } from 'playwright-core';

export const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'];

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** Runs axe on the page as it is now; fails naming each violation, its rule and where. */
export async function assertAccessible(page: Page, state: string): Promise<void> {
  // Evaluated through the DevTools protocol, as @axe-core/playwright does: the UI's CSP allows no inline script.
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE_SOURCE);
  const results = await page.evaluate(
    (tags) => (window as unknown as { axe: { run(ctx: Document, o: unknown): Promise<AxeResults> } }).axe
      .run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] }),
    AXE_TAGS,
  );
  const found = results.violations.map((v) =>
    `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary?.replace(/\s+/g, ' ')}`).join('; ')}`);
  assert.deepEqual(found, [], `${state}: axe found ${found.length} violation(s):\n${found.join('\n')}`);
}
