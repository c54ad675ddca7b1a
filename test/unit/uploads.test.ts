import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createUploadOffsets, rangeFor, stateOffset } from '../../src/proxy/uploads.js';

const state = (json: unknown) => Buffer.concat([Buffer.alloc(32, 7), Buffer.from(JSON.stringify(json))]).toString('base64url');

test("_state's Offset is read; anything else is no offset", () => {
  assert.equal(stateOffset(state({ Name: 'a', UUID: 'u', Offset: 5 })), 5);
  assert.equal(stateOffset(`${state({ Offset: 0 })}==`), 0);
  for (const bad of [undefined, '', 'AAAA', state({ Offset: -1 }), state({ Offset: '5' }), state({ Offset: 1.5 }), 'x'.repeat(5000)]) {
    assert.equal(stateOffset(bad), undefined, String(bad).slice(0, 20));
  }
  assert.deepEqual([rangeFor(0), rangeFor(1), rangeFor(10)], ['0-0', '0-0', '0-9']);
});

test('offsets follow the upstream answers of the same repository, and end with the upload', () => {
  const u = createUploadOffsets();
  u.observe('a', undefined, 'POST', 202, `http://up/v2/a/blobs/uploads/u1?_state=${state({ Offset: 0 })}`);
  assert.equal(u.known('a', 'u1')?.offset, 0);
  u.observe('a', 'u1', 'PATCH', 202, `/v2/a/blobs/uploads/u1?_state=${state({ Offset: 10 })}`);
  assert.deepEqual(u.known('a', 'u1'), { offset: 10, location: `/v2/a/blobs/uploads/u1?_state=${state({ Offset: 10 })}` });
  u.observe('b', 'u1', 'PATCH', 202, `/v2/a/blobs/uploads/u1?_state=${state({ Offset: 99 })}`);
  assert.equal(u.known('a', 'u1')?.offset, 10, "another repository's answer is not this upload's");
  u.observe('a', 'u1', 'PATCH', 404, undefined);
  assert.equal(u.known('a', 'u1')?.offset, 10);
  u.observe('a', 'u1', 'PUT', 201, '/v2/a/blobs/sha256:x');
  assert.equal(u.known('a', 'u1'), undefined);
});
