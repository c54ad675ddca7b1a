// axe-core in the UI's browser tests (@axe-core/playwright, on the page
// playwright-core already drives: no browser of its own). The rule set is
// the audit's: WCAG 2.0 and 2.1, A and AA, and axe's best practices.
import assert from 'node:assert/strict';
import { AxeBuilder } from '@axe-core/playwright';
import type { Page } from 'playwright-core';

export const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'];

/** Runs axe on the page as it is now; fails naming each violation, its rule and where. */
export async function assertAccessible(page: Page, state: string): Promise<void> {
  const results = await new AxeBuilder({ page }).withTags(AXE_TAGS).analyze();
  const found = results.violations.map((v) =>
    `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary?.replace(/\s+/g, ' ')}`).join('; ')}`);
  assert.deepEqual(found, [], `${state}: axe found ${found.length} violation(s):\n${found.join('\n')}`);
}
