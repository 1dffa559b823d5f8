// The actor host's side: run one `ActorInvocation` against the system's actors, and serve
// POST /api/v1/actors/actions. The whole body is read before it is decoded (a node may send it
// in several TCP chunks).

import * as http from 'node:http';
import type { ActorContext, ActorDefinition } from './actor';
import type { SpawnClient } from './client';
import {
  ActorInvocationResponseS,
  ActorInvocationS,
  fromAny,
  isJsonType,
  JSON_TYPE_1X,
  toAny,
  type ActorId,
  type Any,
  type Context,
} from './messages';
import { decode, encode } from './protobuf';
import { Value } from './value';

const MAX_BODY = 16 << 20;

interface ActorInvocation {
  actor?: ActorId;
  action_name?: string;
  current_context?: Context;
  value?: Any;
  caller?: ActorId;
}

export class HostError extends Error {
  constructor(
    message: string,
    readonly httpStatus: number,
  ) {
    super(message);
  }
}

/** Run one invocation; returns the encoded `ActorInvocationResponse`. */
export async function runInvocation(
  system: string,
  actors: Map<string, ActorDefinition>,
  client: SpawnClient,
  inv: ActorInvocation,
): Promise<Uint8Array> {
  const id = inv.actor ?? {};
  const def = actors.get(id.name ?? '') ?? actors.get(id.parent ?? '');
  if (!def || (id.system && id.system !== system)) {
    throw new HostError(`no actor ${id.system}/${id.name} in this host (system ${system})`, 404);
  }
  const action = inv.action_name ?? '';
  const handler = def.actions.get(action);
  if (!handler) throw new HostError(`actor ${def.name} has no action ${JSON.stringify(action)}`, 404);
  const cur = inv.current_context ?? {};
  const jsonUrl = [cur.state?.type_url, inv.value?.type_url].find(isJsonType) ?? JSON_TYPE_1X;
  const self: ActorId = { name: id.name, system: id.system || system, parent: id.parent };
  const ctx: ActorContext = {
    state: cur.state?.type_url ? fromAny(cur.state) : def.options.initialState,
    self,
    caller: inv.caller ?? cur.caller,
    metadata: cur.metadata ?? {},
    tags: cur.tags ?? {},
    invoke: (actor, options) =>
      client.invoke(actor, { system: self.system, ...options, caller: options.caller ?? self }),
  };
  const payload = inv.value?.type_url ? fromAny(inv.value) : undefined;
  let result: Value;
  try {
    result = (await handler(ctx, payload)) ?? Value.of();
  } catch (e) {
    throw new HostError(`${def.name}.${action} failed: ${(e as Error)?.message ?? e}`, 500);
  }
  if (!(result instanceof Value)) {
    throw new HostError(`${def.name}.${action} returned ${typeof result}, not a Value`, 500);
  }
  return encode(ActorInvocationResponseS, response(result, cur, self, jsonUrl));
}

function response(v: Value, cur: Context, self: ActorId, url: string): Record<string, unknown> {
  const out: Record<string, unknown> = {
    actor_name: self.name,
    actor_system: self.system,
    updated_context: {
      ...cur,
      state: v.hasState ? toAny(v.newState, url) : cur.state,
      tags: v.tags ?? cur.tags,
    },
    checkpoint: v.wantsCheckpoint,
  };
  if (v.hasReply && v.reply !== undefined) out.value = toAny(v.reply, url);
  else out.noop = {};
  const wf: Record<string, unknown> = {};
  if (v.effects.length) {
    wf.effects = v.effects.map((e) => ({
      request: {
        system: { name: e.system ?? self.system },
        actor: { id: { name: e.actor, system: e.system ?? self.system } },
        action_name: e.action,
        ...(e.payload === undefined ? { noop: {} } : { value: toAny(e.payload, url) }),
        async: true,
        caller: self,
        metadata: e.metadata,
        scheduled_to: e.delayMs ? Date.now() + e.delayMs : undefined,
        register_ref: e.parent,
      },
    }));
  }
  if (v.broadcastTo) {
    const p = v.broadcastTo.payload;
    wf.broadcast = {
      channel_group: v.broadcastTo.channel,
      ...(p === undefined ? { noop: {} } : { value: toAny(p, url) }),
    };
  }
  for (const [key, r] of [['pipe', v.pipeTo], ['forward', v.forwardTo]] as const) {
    if (r) wf[key] = { actor: r.actor, action_name: r.action, register_ref: r.parent };
  }
  if (Object.keys(wf).length) out.workflow = wf;
  return out;
}

/** An HTTP server answering the node's calls for `system`'s actors. */
export function createHostServer(
  system: string,
  actors: Map<string, ActorDefinition>,
  client: SpawnClient,
): http.Server {
  return http.createServer((req, res) => {
    const reply = (status: number, body: Uint8Array | string, type: string): void => {
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (req.method !== 'POST' || req.url?.split('?')[0] !== '/api/v1/actors/actions') {
      reply(404, `no route ${req.method} ${req.url}`, 'text/plain');
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_BODY) return reply(413, `body over ${MAX_BODY} bytes`, 'text/plain');
      let inv: ActorInvocation;
      try {
        inv = decode<ActorInvocation>(ActorInvocationS, Buffer.concat(chunks));
      } catch (e) {
        return reply(400, `malformed ActorInvocation: ${(e as Error).message}`, 'text/plain');
      }
      runInvocation(system, actors, client, inv).then(
        (body) => reply(200, body, 'application/octet-stream'),
        (e: unknown) => {
          const status = e instanceof HostError ? e.httpStatus : 500;
          reply(status, (e as Error)?.message ?? String(e), 'text/plain');
        },
      );
    });
  });
}
