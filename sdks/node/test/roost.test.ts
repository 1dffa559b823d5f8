// RoostClient: each call goes to the owner the ring names; a member that refuses the connection
// is skipped (the call goes to a live node); a call cut off after it was sent is not sent again;
// a reply naming another ring version makes the client fetch the ring again.

import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { Ring } from '../src/ring';
import { RoostClient } from '../src/roost';

interface Fake {
  id: string;
  port: number;
  calls: string[];
  cut: boolean;
  version: string;
  fetches: number;
  close: () => void;
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function fakeNodes(ids: string[], dead: number): Promise<Fake[]> {
  const fakes: Fake[] = [];
  const members = () => [
    { id: 'a', http: `127.0.0.1:${dead}`, systems: null },
    ...fakes.map((f) => ({ id: f.id, http: `127.0.0.1:${f.port}`, systems: null })),
  ];
  for (const id of ids) {
    const fake: Fake = { id, port: 0, calls: [], cut: false, version: 'v1', fetches: 0, close: () => undefined };
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const headers = { 'Content-Type': 'application/json', 'X-Roost-Ring-Version': fake.version };
        if (req.url === '/v1/cluster/ring') {
          fake.fetches++;
          res.writeHead(200, headers);
          res.end(JSON.stringify({ version: fake.version, vnodes: 50, hash: 'sha256-48', members: members() }));
          return;
        }
        fake.calls.push(decodeURIComponent((req.url ?? '').split('/')[5]));
        if (fake.cut) {
          req.socket.destroy();
          return;
        }
        res.writeHead(200, headers);
        res.end(JSON.stringify({ on: id }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    fake.port = (server.address() as AddressInfo).port;
    fake.close = () => {
      server.closeAllConnections();
      server.close();
    };
    fakes.push(fake);
  }
  return fakes;
}

function owned(owner: string, n = 4): string[] {
  const ring = new Ring(['a', 'b', 'c'], 50);
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) if (ring.owner('s', `k${i}`) === owner) out.push(`k${i}`);
  return out;
}

test('calls go to the owner, and around a member that refuses the connection', async () => {
  const [b, c] = await fakeNodes(['b', 'c'], await freePort());
  try {
    const client = new RoostClient({ url: `http://127.0.0.1:${b.port}`, token: '' });
    assert.equal(await client.refresh(), true);
    for (const k of owned('c')) assert.deepEqual(await client.invoke(k, { action: 'add', system: 's' }), { on: 'c' });
    assert.deepEqual(c.calls, owned('c'));
    assert.deepEqual(b.calls, []);
    for (const k of owned('a')) assert.deepEqual(await client.invoke(k, { action: 'add', system: 's' }), { on: 'b' });
    assert.deepEqual(b.calls, owned('a'));
  } finally {
    b.close();
    c.close();
  }
});

test('a call cut off after it was sent is not sent again', async () => {
  const [b, c] = await fakeNodes(['b', 'c'], await freePort());
  c.cut = true;
  try {
    const client = new RoostClient({ url: `http://127.0.0.1:${b.port}`, token: '' });
    await client.refresh();
    const k = owned('c', 1)[0];
    await assert.rejects(client.invoke(k, { action: 'add', system: 's' }), /may have run/);
    assert.deepEqual(c.calls, [k]);
    assert.deepEqual(b.calls, []);
  } finally {
    b.close();
    c.close();
  }
});

test('another ring version in a reply makes the client fetch the ring again, at most once a second', async () => {
  const [b, c] = await fakeNodes(['b', 'c'], await freePort());
  let now = 1_000_000;
  try {
    const client = new RoostClient({ url: `http://127.0.0.1:${b.port}`, token: '', now: () => now });
    await client.invoke('k1', { action: 'add', system: 's' }); // one-shot: no ring fetched yet
    assert.equal(b.fetches, 0);
    await client.invoke('k2', { action: 'add', system: 's' }); // second call: fetched in the background
    await client.settled();
    assert.equal(client.ring?.version, 'v1');
    b.version = c.version = 'v2';
    await client.invoke(owned('b', 1)[0], { action: 'add', system: 's' });
    await client.invoke(owned('b', 1)[0], { action: 'add', system: 's' });
    await client.settled();
    assert.equal(client.ring?.version, 'v1'); // within the second: not yet
    now += 1500;
    await client.invoke(owned('b', 1)[0], { action: 'add', system: 's' });
    await client.settled();
    assert.equal(client.ring?.version, 'v2');
    assert.equal(b.fetches, 2);
  } finally {
    b.close();
    c.close();
  }
});
