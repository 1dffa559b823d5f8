// The actor host: a body arriving in pieces, state and replies, workflows, clear errors.

import assert from 'node:assert/strict';
import * as net from 'node:net';
import { after, before, test } from 'node:test';
import { ActorInvocationResponseS, ActorInvocationS, fromAny, JSON_TYPE_2X, toAny } from '../src/messages';
import { decode, encode } from '../src/protobuf';
import { createHostServer } from '../src/server';
import { ActorSystem } from '../src/system';
import { Value } from '../src/value';

const system = new ActorSystem('spawn-system', { proxyUrl: 'http://127.0.0.1:1' });
system
  .buildActor<{ total: number }>({ name: 'js-counter', initialState: { total: 0 } })
  .addAction('add', (ctx, p: { value: number }) => {
    const total = ctx.state!.total + p.value;
    return Value.of<{ total: number }>().state({ total }).response({ total });
  })
  .addAction('boom', () => {
    throw new Error('no luck');
  })
  .addAction('route', (ctx) =>
    Value.of()
      .pipe('incrementor', 'add')
      .effect({ actor: 'audit', action: 'log', payload: { who: ctx.self.name } })
      .broadcast('news')
      .withTags({ seen: 'yes' })
      .checkpoint(),
  );

const server = createHostServer(system.name, system.actors, system.client);
let port = 0;
before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as net.AddressInfo).port;
});
after(() => server.close());

/** POST the body in `pieces` separate writes, each after a pause, and return status + body. */
async function rawPost(body: Uint8Array, pieces: number): Promise<{ status: number; body: Buffer }> {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  sock.write(`POST /api/v1/actors/actions HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
  const step = Math.ceil(body.length / pieces);
  for (let i = 0; i < body.length; i += step) {
    sock.write(body.subarray(i, i + step));
    await new Promise((r) => setTimeout(r, 20));
  }
  const chunks: Buffer[] = [];
  for await (const c of sock) chunks.push(c as Buffer);
  const raw = Buffer.concat(chunks);
  const split = raw.indexOf('\r\n\r\n');
  return { status: Number(raw.subarray(9, 12).toString()), body: raw.subarray(split + 4) };
}

function invocation(action: string, payload?: unknown, state?: unknown, url?: string): Uint8Array {
  return encode(ActorInvocationS, {
    actor: { name: 'js-counter', system: 'spawn-system' },
    action_name: action,
    current_context: { state: state === undefined ? undefined : toAny(state, url), metadata: { k: 'v' } },
    ...(payload === undefined ? { noop: {} } : { value: toAny(payload, url) }),
  });
}

test('a body split over many writes is read whole before decoding', async () => {
  const body = invocation('add', { value: 5, pad: 'x'.repeat(3000) }, { total: 1 });
  const res = await rawPost(body, 7);
  assert.equal(res.status, 200);
  const out = decode<any>(ActorInvocationResponseS, res.body);
  assert.deepEqual(fromAny(out.value), { total: 6 });
  assert.deepEqual(fromAny(out.updated_context.state), { total: 6 });
  assert.deepEqual(out.updated_context.metadata, { k: 'v' });
});

test('the initial state is used before the node has one, and the 2.x spelling is kept', async () => {
  const res = await rawPost(invocation('add', { value: 2 }, undefined, JSON_TYPE_2X), 1);
  const out = decode<any>(ActorInvocationResponseS, res.body);
  assert.equal(out.value.type_url, JSON_TYPE_2X);
  assert.deepEqual(fromAny(out.value), { total: 2 });
});

test('workflow steps, tags and checkpoint', async () => {
  const res = await rawPost(invocation('route'), 1);
  const out = decode<any>(ActorInvocationResponseS, res.body);
  assert.deepEqual(out.workflow.pipe, { actor: 'incrementor', action_name: 'add' });
  assert.equal(out.workflow.effects[0].request.action_name, 'log');
  assert.deepEqual(fromAny(out.workflow.effects[0].request.value), { who: 'js-counter' });
  assert.equal(out.workflow.broadcast.channel_group, 'news');
  assert.deepEqual(out.updated_context.tags, { seen: 'yes' });
  assert.equal(out.checkpoint, true);
  assert.deepEqual(out.noop, {});
});

test('errors say what failed', async () => {
  let res = await rawPost(invocation('boom'), 1);
  assert.equal(res.status, 500);
  assert.match(res.body.toString(), /js-counter\.boom failed: no luck/);
  res = await rawPost(invocation('nope'), 1);
  assert.equal(res.status, 404);
  assert.match(res.body.toString(), /no action "nope"/);
  res = await rawPost(Buffer.from([0xff, 0xff, 0xff]), 1);
  assert.equal(res.status, 400);
  assert.match(res.body.toString(), /malformed ActorInvocation/);
});
