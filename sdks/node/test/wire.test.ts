// Golden bytes shared with the Python suite (tests/node/spawnproto/golden.json): every message
// decodes and re-encodes to the same bytes, in both JSONType spellings.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fromAny, JSON_TYPE_1X, JSON_TYPE_2X, SCHEMAS, toAny } from '../src/messages';
import { decode, DecodeError, encode } from '../src/protobuf';

const GOLDEN = join(__dirname, '../../../../tests/node/spawnproto/golden.json');

test('golden messages round-trip byte for byte', { skip: !existsSync(GOLDEN) }, () => {
  const golden = JSON.parse(readFileSync(GOLDEN, 'utf8')) as Record<string, Record<string, string>>;
  let n = 0;
  for (const [spelling, messages] of Object.entries(golden)) {
    for (const [name, hex] of Object.entries(messages)) {
      const schema = SCHEMAS[name];
      assert.ok(schema, `no schema for ${name}`);
      const decoded = decode(schema, Buffer.from(hex, 'hex'));
      assert.equal(Buffer.from(encode(schema, decoded)).toString('hex'), hex, `${spelling} ${name}`);
      n++;
    }
  }
  assert.equal(n, 28);
});

test('golden values decode to what the Python side put in', { skip: !existsSync(GOLDEN) }, () => {
  const golden = JSON.parse(readFileSync(GOLDEN, 'utf8'));
  for (const [spelling, url] of [['1.x', JSON_TYPE_1X], ['2.x', JSON_TYPE_2X]]) {
    const inv = decode<any>(SCHEMAS.ActorInvocation, Buffer.from(golden[spelling].ActorInvocation, 'hex'));
    assert.equal(inv.action_name, 'add');
    assert.deepEqual(inv.actor, { name: 'js-counter', system: 'spawn-system', parent: 'counter' });
    assert.equal(inv.current_context.state.type_url, url);
    assert.deepEqual(fromAny(inv.current_context.state), { total: 1 });
    assert.deepEqual(inv.current_context.metadata, { trace: 't-1' });
    const req = decode<any>(SCHEMAS.InvocationRequest, Buffer.from(golden[spelling].InvocationRequest, 'hex'));
    assert.equal(req.async, true);
    assert.equal(req.scheduled_to, 1_700_000_000_000);
    assert.equal(req.register_ref, 'counter');
    assert.deepEqual(fromAny(req.value), { value: 5 });
    const back = decode<any>(SCHEMAS.ActorInvocationResponse, Buffer.from(golden[spelling].ActorInvocationResponse, 'hex'));
    assert.equal(back.checkpoint, true);
    assert.deepEqual(back.workflow.pipe, { actor: 'incrementor', action_name: 'add' });
    assert.deepEqual(back.noop, undefined);
  }
});

test('field numbers from the published tables', () => {
  assert.deepEqual([...encode(SCHEMAS.InvocationRequest, { noop: {} })], [7 << 3 | 2, 0]);
  assert.deepEqual([...encode(SCHEMAS.ActorInvocationResponse, { noop: {}, checkpoint: true })], [6 << 3 | 2, 0, 7 << 3, 1]);
  assert.deepEqual([...encode(SCHEMAS.Context, { metadata: { a: '' } })], [0x22, 5, 0x0a, 1, 0x61, 0x12, 0]);
});

test('JSON values in either spelling, other types refused clearly', () => {
  for (const url of [JSON_TYPE_1X, JSON_TYPE_2X]) assert.deepEqual(fromAny(toAny({ a: [1] }, url)), { a: [1] });
  assert.throws(() => fromAny({ type_url: 'type.googleapis.com/x.Y', value: new Uint8Array() }), /JSONType/);
});

test('garbage is a DecodeError, not a crash', () => {
  assert.throws(() => decode(SCHEMAS.ActorInvocation, Buffer.from([0x0a, 0x20, 1])), DecodeError);
  assert.throws(() => decode(SCHEMAS.ActorInvocation, Buffer.from([0xff, 0xff, 0xff])), DecodeError);
});

test('negative and large integers', () => {
  const S = { n: { no: 1, type: 'int32' as const }, t: { no: 2, type: 'int64' as const } };
  const out = decode<any>(S, encode(S, { n: -5, t: 2 ** 40 }));
  assert.deepEqual(out, { n: -5, t: 2 ** 40 });
});
