// The client: registration retries while the node starts, invoke replies and errors.

import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { SpawnClient } from '../src/client';
import { SpawnError } from '../src/errors';
import { InvocationRequestS, InvocationResponseS, RegistrationResponseS, Status, toAny, fromAny } from '../src/messages';
import { decode, encode } from '../src/protobuf';
import { ActorSystem } from '../src/system';

async function fakeNode(handler: (path: string, body: Buffer, headers: http.IncomingHttpHeaders) => [number, Uint8Array]): Promise<[string, () => void]> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const [status, body] = handler(req.url ?? '', Buffer.concat(chunks), req.headers);
      res.writeHead(status, { 'Content-Type': 'application/octet-stream' });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return [`http://127.0.0.1:${(server.address() as AddressInfo).port}`, () => server.close()];
}

test('registration retries until the node accepts, and says where the host serves', async () => {
  let tries = 0;
  let hostPort = '';
  const [url, close] = await fakeNode((_p, _b, headers) => {
    tries++;
    hostPort = String(headers['x-roost-actor-host-port']);
    if (tries < 3) return [503, encode(RegistrationResponseS, { status: { status: Status.ERROR, message: 'starting' } })];
    return [200, encode(RegistrationResponseS, { status: { status: Status.OK, message: 'Accepted' } })];
  });
  try {
    const system = new ActorSystem('spawn-system', { proxyUrl: url });
    system.buildActor({ name: 'a' }).addAction('x', () => undefined);
    const port = await system.register({ port: 0, host: '127.0.0.1', delayMs: 10 });
    await system.stop();
    assert.equal(tries, 3);
    assert.equal(hostPort, String(port));
  } finally {
    close();
  }
});

test('a refused registration is not retried', async () => {
  let tries = 0;
  const [url, close] = await fakeNode(() => {
    tries++;
    return [400, encode(RegistrationResponseS, { status: { status: Status.ERROR, message: 'actor "a" is taken' } })];
  });
  try {
    const client = new SpawnClient({ proxyUrl: url });
    await assert.rejects(client.register(new Uint8Array(), 1, { delayMs: 1 }), /registration failed: actor "a" is taken/);
    assert.equal(tries, 1);
  } finally {
    close();
  }
});

test('invoke sends JSON and resolves to the JSON reply', async () => {
  const [url, close] = await fakeNode((path, body) => {
    const req = decode<any>(InvocationRequestS, body);
    assert.equal(path, '/api/v1/system/spawn-system/actors/incrementor/invoke');
    assert.equal(req.actor.id.name, 'incrementor');
    const total = 1 + (fromAny(req.value) as { value: number }).value;
    return [200, encode(InvocationResponseS, { status: { status: Status.OK }, value: toAny({ total }) })];
  });
  try {
    const client = new SpawnClient({ proxyUrl: url });
    assert.deepEqual(await client.invoke('incrementor', { action: 'add', system: 'spawn-system', payload: { value: 5 } }), { total: 6 });
  } finally {
    close();
  }
});

test('errors carry the node status and message', async () => {
  const [url, close] = await fakeNode(() => [404, encode(InvocationResponseS, { status: { status: Status.ACTOR_NOT_FOUND, message: 'no actor ghost' } })]);
  try {
    const err = await new SpawnClient({ proxyUrl: url }).invoke('ghost', { action: 'x' }).catch((e) => e);
    assert.ok(err instanceof SpawnError);
    assert.equal(err.status, 'ACTOR_NOT_FOUND');
    assert.equal(err.httpStatus, 404);
    assert.match(err.message, /spawn-system\/ghost\.x failed: no actor ghost/);
  } finally {
    close();
  }
  const down = (await new SpawnClient({ proxyUrl: 'http://127.0.0.1:1' }).invoke('a', { action: 'b' }).catch((e) => e)) as SpawnError;
  assert.equal(down.status, 'TRANSPORT');
  assert.match(down.message, /cannot reach the node at http:\/\/127\.0\.0\.1:1/);
});
