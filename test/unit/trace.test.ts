// Request IDs (src/proxy/trace.ts): a valid W3C traceparent is honoured, its
// trace kept and a new span made for the upstream hop; anything else starts a
// new trace. And the forwarding headers carry it (src/proxy/passes.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { traceOf } from '../../src/proxy/trace.js';
import { forwardingHeaders } from '../../src/proxy/passes.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';
const parts = (tp: string) => /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(tp)?.slice(1) ?? assert.fail(tp);

test('a valid traceparent: its trace ID is the request ID; the upstream gets the trace, a new span, the same flags', () => {
  const t = traceOf(`00-${TRACE}-${SPAN}-01`);
  assert.equal(t.id, TRACE);
  const [trace, span, flags] = parts(t.traceparent);
  assert.equal(trace, TRACE);
  assert.notEqual(span, SPAN);
  assert.equal(flags, '01');
  assert.equal(traceOf(`  00-${TRACE}-${SPAN}-00 `).id, TRACE, 'surrounding spaces trimmed');
  assert.equal(traceOf(`01-${TRACE}-${SPAN}-01-future`).id, TRACE, 'a later version may add fields');
});

test('anything else: a new trace, not sampled, a new ID each time', () => {
  for (const bad of [undefined, '', 'garbage', `00-${TRACE.toUpperCase()}-${SPAN}-01`, `00-${'0'.repeat(32)}-${SPAN}-01`,
    `00-${TRACE}-${'0'.repeat(16)}-01`, `ff-${TRACE}-${SPAN}-01`, `00-${TRACE}-${SPAN}-01-extra`, [`00-${TRACE}-${SPAN}-01`]]) {
    const t = traceOf(bad as string | string[] | undefined);
    assert.notEqual(t.id, TRACE, String(bad));
    assert.match(t.id, /^[0-9a-f]{32}$/);
    const [trace, , flags] = parts(t.traceparent);
    assert.equal(trace, t.id);
    assert.equal(flags, '00');
  }
  assert.notEqual(traceOf(undefined).id, traceOf(undefined).id);
});

test('the forwarding headers carry the traceparent when given, and nothing of it otherwise', () => {
  assert.deepEqual(forwardingHeaders('r.test', '10.0.0.1', `00-${TRACE}-${SPAN}-01`), {
    host: 'r.test', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'r.test', 'x-forwarded-for': '10.0.0.1', traceparent: `00-${TRACE}-${SPAN}-01`,
  });
  assert.equal('traceparent' in forwardingHeaders('r.test', '10.0.0.1'), false);
});

test('new traces stay distinct across refills of the random pool (4 KiB: 170 traces a fill)', () => {
  const ids = new Set<string>();
  const spans = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const t = traceOf(undefined);
    assert.match(t.id, /^[0-9a-f]{32}$/);
    ids.add(t.id);
    spans.add(t.traceparent.split('-')[2]!);
  }
  assert.equal(ids.size, 1000);
  assert.equal(spans.size, 1000);
});
