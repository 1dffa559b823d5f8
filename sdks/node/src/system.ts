// `ActorSystem`: a system's actors in this process, served to a node and registered with it.

import type { AddressInfo } from 'node:net';
import type * as http from 'node:http';
import { ActorDefinition, type ActorOptions, type InvokeOptions } from './actor';
import { SpawnClient, type ClientOptions } from './client';
import { Kind, RegistrationRequestS, toAny } from './messages';
import { encode } from './protobuf';
import { createHostServer } from './server';

export const SDK_NAME = '@roost/spawn-sdk';
export const SDK_VERSION = '0.1.0';
const KINDS = { named: Kind.NAMED, unnamed: Kind.UNNAMED, pooled: Kind.POOLED } as const;

export interface RegisterOptions {
  /** Port to serve the node's calls on (default $USER_FUNCTION_PORT or 8090; 0 = any). */
  port?: number;
  /** Address to listen on (default $USER_FUNCTION_HOST or 0.0.0.0). */
  host?: string;
  /** Registration attempts while the node is not up (default 60), `delayMs` apart (1000). */
  retries?: number;
  delayMs?: number;
  log?: (message: string) => void;
}

export class ActorSystem {
  readonly actors = new Map<string, ActorDefinition>();
  readonly client: SpawnClient;
  private server: http.Server | undefined;

  constructor(
    readonly name: string,
    options: ClientOptions = {},
  ) {
    this.client = new SpawnClient({ system: name, ...options });
  }

  /** Define an actor of this system; add its actions with `addAction`. */
  buildActor<S = any>(options: ActorOptions<S>): ActorDefinition<S> {
    if (this.actors.has(options.name)) throw new TypeError(`actor ${options.name} is defined twice`);
    const def = new ActorDefinition<S>(options);
    this.actors.set(def.name, def);
    return def;
  }

  /** The `RegistrationRequest` this system sends (protocol 1.1, JSON state). */
  registration(): Uint8Array {
    const actors: Record<string, unknown> = {};
    for (const def of this.actors.values()) {
      const o = def.options;
      actors[def.name] = {
        id: { name: def.name, system: this.name },
        state: o.initialState === undefined ? undefined : { state: toAny(o.initialState) },
        settings: {
          kind: KINDS[o.kind ?? 'named'],
          stateful: o.stateful ?? true,
          snapshot_strategy: { timeout: { timeout: o.snapshotTimeout ?? 10_000 } },
          deactivation_strategy: { timeout: { timeout: o.deactivatedTimeout ?? 30_000 } },
          min_pool_size: 1,
          max_pool_size: 1,
        },
        actions: [...def.actions.keys()].map((name) => ({ name })),
        timer_actions: (o.timers ?? []).map((t) => ({ seconds: t.everyMs, action: { name: t.action } })),
        metadata: o.channels?.length
          ? { channel_group: o.channels.map((c) => ({ topic: c.topic, action: c.action ?? 'receive' })) }
          : undefined,
      };
    }
    return encode(RegistrationRequestS, {
      service_info: {
        service_name: this.name,
        service_version: SDK_VERSION,
        service_runtime: `node ${process.version}`,
        support_library_name: SDK_NAME,
        support_library_version: SDK_VERSION,
        protocol_major_version: 1,
        protocol_minor_version: 1,
      },
      actor_system: { name: this.name, registry: { actors } },
    });
  }

  /** Serve the node's calls, then register (retrying while the node starts). Returns the port. */
  async register(options: RegisterOptions = {}): Promise<number> {
    if (!this.actors.size) throw new TypeError(`system ${this.name} has no actors to register`);
    const port = options.port ?? Number(process.env.USER_FUNCTION_PORT || 8090);
    const host = options.host ?? process.env.USER_FUNCTION_HOST ?? '0.0.0.0';
    if (!this.server) {
      const server = createHostServer(this.name, this.actors, this.client);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve());
      });
      this.server = server;
    }
    const bound = (this.server.address() as AddressInfo).port;
    await this.client.register(this.registration(), bound, options);
    return bound;
  }

  /** Invoke any actor of this system (or another, with `system`). */
  invoke<R = unknown>(actor: string, options: InvokeOptions): Promise<R> {
    return this.client.invoke<R>(actor, options);
  }

  /** Stop serving the node's calls. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
