// Spawn's actor-host protocol messages (field numbers from its published protocol; the same in
// 1.x `eigr.functions.protocol` and 2.x `spawn`), as schema tables and TypeScript shapes.

import { decode, encode, Schema } from './protobuf';

export const JSON_TYPE_1X = 'type.googleapis.com/eigr.functions.protocol.JSONType';
export const JSON_TYPE_2X = 'type.googleapis.com/spawn.JSONType';

export interface Any {
  type_url?: string;
  value?: Uint8Array;
}
export interface ActorId {
  name?: string;
  system?: string;
  parent?: string;
}
export type Dict = Record<string, string>;
export interface Context {
  state?: Any;
  caller?: ActorId;
  self?: ActorId;
  metadata?: Dict;
  tags?: Dict;
}
export interface RequestStatus {
  status?: number;
  message?: string;
}
export const Status = { UNKNOWN: 0, OK: 1, ACTOR_NOT_FOUND: 2, ERROR: 3 } as const;
export const Kind = { UNKNOW_KIND: 0, NAMED: 1, UNNAMED: 2, POOLED: 3, PROXY: 4 } as const;

const AnyS: Schema = { type_url: { no: 1, type: 'string' }, value: { no: 2, type: 'bytes' } };
const Noop: Schema = {};
export const JSONTypeS: Schema = { content: { no: 1, type: 'string' } };
export const ActorIdS: Schema = {
  name: { no: 1, type: 'string' },
  system: { no: 2, type: 'string' },
  parent: { no: 3, type: 'string' },
};
const Timeout: Schema = { timeout: { no: 1, type: 'int64' } };
const Strategy: Schema = { timeout: { no: 1, type: Timeout } };
const ActorStateS: Schema = {
  tags: { no: 1, type: 'string', map: true },
  state: { no: 2, type: AnyS },
};
const ActorSettingsS: Schema = {
  kind: { no: 1, type: 'enum' },
  stateful: { no: 2, type: 'bool' },
  snapshot_strategy: { no: 3, type: Strategy },
  deactivation_strategy: { no: 4, type: Strategy },
  min_pool_size: { no: 5, type: 'int32' },
  max_pool_size: { no: 6, type: 'int32' },
  state_type: { no: 8, type: 'string' },
};
const ActionS: Schema = { name: { no: 1, type: 'string' } };
const ChannelS: Schema = { topic: { no: 1, type: 'string' }, action: { no: 2, type: 'string' } };
export const ActorS: Schema = {
  id: { no: 1, type: ActorIdS },
  state: { no: 2, type: ActorStateS },
  settings: { no: 3, type: ActorSettingsS },
  actions: { no: 4, type: ActionS, repeated: true },
  timer_actions: {
    no: 5,
    type: { seconds: { no: 1, type: 'int32' }, action: { no: 2, type: ActionS } },
    repeated: true,
  },
  metadata: {
    no: 6,
    type: {
      channel_group: { no: 1, type: ChannelS, repeated: true },
      tags: { no: 2, type: 'string', map: true },
    },
  },
};
export const ActorSystemS: Schema = {
  name: { no: 1, type: 'string' },
  registry: { no: 2, type: { actors: { no: 1, type: ActorS, map: true } } },
};
export const ContextS: Schema = {
  state: { no: 1, type: AnyS },
  caller: { no: 2, type: ActorIdS },
  self: { no: 3, type: ActorIdS },
  metadata: { no: 4, type: 'string', map: true },
  tags: { no: 5, type: 'string', map: true },
};
const StatusS: Schema = { status: { no: 1, type: 'enum' }, message: { no: 2, type: 'string' } };
export const RegistrationRequestS: Schema = {
  service_info: {
    no: 1,
    type: {
      service_name: { no: 1, type: 'string' },
      service_version: { no: 2, type: 'string' },
      service_runtime: { no: 3, type: 'string' },
      support_library_name: { no: 4, type: 'string' },
      support_library_version: { no: 5, type: 'string' },
      protocol_major_version: { no: 6, type: 'int32' },
      protocol_minor_version: { no: 7, type: 'int32' },
    },
  },
  actor_system: { no: 2, type: ActorSystemS },
};
export const RegistrationResponseS: Schema = {
  status: { no: 1, type: StatusS },
  proxy_info: {
    no: 2,
    type: {
      protocol_major_version: { no: 1, type: 'int32' },
      protocol_minor_version: { no: 2, type: 'int32' },
      proxy_name: { no: 3, type: 'string' },
      proxy_version: { no: 4, type: 'string' },
    },
  },
};
export const SpawnRequestS: Schema = { actors: { no: 1, type: ActorIdS, repeated: true } };
export const SpawnResponseS: Schema = { status: { no: 1, type: StatusS } };
export const InvocationRequestS: Schema = {
  system: { no: 1, type: ActorSystemS },
  actor: { no: 2, type: ActorS },
  action_name: { no: 3, type: 'string' },
  value: { no: 4, type: AnyS },
  async: { no: 5, type: 'bool' },
  caller: { no: 6, type: ActorIdS },
  noop: { no: 7, type: Noop },
  metadata: { no: 8, type: 'string', map: true },
  scheduled_to: { no: 9, type: 'int64' },
  pooled: { no: 10, type: 'bool' },
  register_ref: { no: 11, type: 'string' },
};
export const InvocationResponseS: Schema = {
  status: { no: 1, type: StatusS },
  system: { no: 2, type: ActorSystemS },
  actor: { no: 3, type: ActorS },
  value: { no: 4, type: AnyS },
  noop: { no: 5, type: Noop },
};
export const ActorInvocationS: Schema = {
  actor: { no: 1, type: ActorIdS },
  action_name: { no: 2, type: 'string' },
  current_context: { no: 3, type: ContextS },
  value: { no: 4, type: AnyS },
  noop: { no: 5, type: Noop },
  caller: { no: 6, type: ActorIdS },
};
const Routing: Schema = {
  actor: { no: 1, type: 'string' },
  action_name: { no: 2, type: 'string' },
  register_ref: { no: 3, type: 'string' },
};
export const WorkflowS: Schema = {
  effects: { no: 1, type: { request: { no: 1, type: InvocationRequestS } }, repeated: true },
  broadcast: {
    no: 2,
    type: {
      channel_group: { no: 1, type: 'string' },
      value: { no: 3, type: AnyS },
      noop: { no: 4, type: Noop },
    },
  },
  pipe: { no: 3, type: Routing },
  forward: { no: 4, type: Routing },
};
export const ActorInvocationResponseS: Schema = {
  actor_name: { no: 1, type: 'string' },
  actor_system: { no: 2, type: 'string' },
  updated_context: { no: 3, type: ContextS },
  value: { no: 4, type: AnyS },
  workflow: { no: 5, type: WorkflowS },
  noop: { no: 6, type: Noop },
  checkpoint: { no: 7, type: 'bool' },
};

/** Every message schema by its protocol name (the golden tests walk this table). */
export const SCHEMAS: Record<string, Schema> = {
  ActorId: ActorIdS,
  Actor: ActorS,
  ActorSystem: ActorSystemS,
  Context: ContextS,
  JSONType: JSONTypeS,
  RegistrationRequest: RegistrationRequestS,
  RegistrationResponse: RegistrationResponseS,
  SpawnRequest: SpawnRequestS,
  SpawnResponse: SpawnResponseS,
  InvocationRequest: InvocationRequestS,
  InvocationResponse: InvocationResponseS,
  ActorInvocation: ActorInvocationS,
  ActorInvocationResponse: ActorInvocationResponseS,
  Workflow: WorkflowS,
};

export function isJsonType(typeUrl: string | undefined): boolean {
  const name = (typeUrl ?? '').split('/').pop();
  return name === 'eigr.functions.protocol.JSONType' || name === 'spawn.JSONType';
}

/** A JSON value as an `Any` holding a `JSONType` (1.x spelling unless told otherwise). */
export function toAny(value: unknown, typeUrl: string = JSON_TYPE_1X): Any {
  const content = JSON.stringify(value === undefined ? null : value);
  return { type_url: typeUrl, value: encode(JSONTypeS, { content }) };
}

/** The JSON value of an `Any` holding a `JSONType` in either spelling. */
export function fromAny(any: Any | undefined): unknown {
  if (!any || !any.type_url) return undefined;
  if (!isJsonType(any.type_url)) {
    throw new TypeError(`expected a JSONType, got an Any of ${any.type_url}`);
  }
  const { content } = decode<{ content?: string }>(JSONTypeS, any.value ?? new Uint8Array());
  return content ? JSON.parse(content) : null;
}
