// Roost's Node.js SDK: actors with JSON state, served to a Roost node over Spawn's protocol.
//
//   import spawn, { Value } from '@roost/spawn-sdk'
//   const system = spawn.createSystem('spawn-system')
//   system.buildActor({ name: 'js-counter', initialState: { total: 0 } })
//     .addAction('add', (ctx, p) => { const total = ctx.state.total + p.value
//                                     return Value.of().state({ total }).response({ total }) })
//   await system.register()
//   await spawn.invoke('incrementor', { action: 'add', system: 'spawn-system', payload: { value: 5 } })

import type { InvokeOptions } from './actor';
import { SpawnClient, type ClientOptions } from './client';
import { ActorSystem } from './system';

export { ActorDefinition } from './actor';
export type { ActorContext, ActorOptions, Handler, InvokeOptions, Kind } from './actor';
export { SpawnClient, defaultProxyUrl } from './client';
export type { ClientOptions } from './client';
export { SpawnError } from './errors';
export { DEFAULT_VNODES, HASH_NAME, Ring, point } from './ring';
export { ClientRing, RoostClient } from './roost';
export type { CallOptions, RoostClientOptions } from './roost';
export { JSON_TYPE_1X, JSON_TYPE_2X, fromAny, toAny } from './messages';
export { runInvocation, createHostServer } from './server';
export { ActorSystem, SDK_NAME, SDK_VERSION } from './system';
export type { RegisterOptions } from './system';
export { Value } from './value';

let shared: SpawnClient | undefined;

/** A system of actors in this process; `options.proxyUrl` says which node to register with. */
export function createSystem(name: string, options: ClientOptions = {}): ActorSystem {
  return new ActorSystem(name, options);
}

/** Point `invoke` at a node (default http://$PROXY_HTTP_HOST:$PROXY_HTTP_PORT). */
export function configure(options: ClientOptions): void {
  shared = new SpawnClient(options);
}

/** Invoke an actor of any language through the node's protocol listener. */
export function invoke<R = unknown>(actor: string, options: InvokeOptions): Promise<R> {
  shared ??= new SpawnClient();
  return shared.invoke<R>(actor, options);
}

const spawn = { createSystem, configure, invoke };
export default spawn;
