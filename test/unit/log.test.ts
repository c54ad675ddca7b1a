import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger, resolveLogFormat, textLine } from '../../src/util/log.js';

test('text log lines: time, level, message, short fields; the setup commands and long values left out', () => {
  const line = textLine(JSON.stringify({ level: 'info', time: '2026-12-07T13:45:11.123Z', msg: 'node setup', caSha256: 'ab', commands: ['x'.repeat(800)], note: 'two words', n: 3, gone: null }));
  assert.equal(line, '13:45:11 info  node setup  caSha256=ab note="two words" n=3\n');
  const long = textLine(JSON.stringify({ level: 'warn', time: '2026-12-07T00:00:00.000Z', msg: 'm', v: 'y'.repeat(500) }));
  assert.ok(long.length < 200 && long.endsWith('…\n'), long);
  assert.equal(textLine('not json'), 'not json');
});

test('log format: auto is text on a terminal and JSON otherwise; an explicit one wins; createLogger writes it', () => {
  delete process.env.GATEWAY_LOG_FORMAT;
  assert.equal(resolveLogFormat('auto', { isTTY: false }), 'json');
  delete process.env.GATEWAY_LOG_FORMAT;
  assert.equal(resolveLogFormat('auto', { isTTY: true }), 'text');
  assert.equal(resolveLogFormat('auto', { isTTY: false }), 'text', 'workers inherit the primary\'s');
  assert.equal(resolveLogFormat('json', { isTTY: true }), 'json');
  delete process.env.GATEWAY_LOG_FORMAT;
  let out = '';
  const sink = new Writable({ write: (c, _e, done) => { out += c; done(); } });
  createLogger(sink, 'text').info({ a: 1 }, 'hello');
  assert.match(out, /^\d\d:\d\d:\d\d info {2}hello {2}a=1\n$/);
});
