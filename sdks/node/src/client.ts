// `SpawnClient`: the SDK's calls to a node's protocol listener (register, invoke, spawn).

import type { InvokeOptions } from './actor';
import { SpawnError } from './errors';
import {
  fromAny,
  InvocationRequestS,
  InvocationResponseS,
  isJsonType,
  RegistrationResponseS,
  RequestStatus,
  SpawnRequestS,
  SpawnResponseS,
  Status,
  toAny,
  type Any,
} from './messages';
import { decode, encode, Schema } from './protobuf';

const OCTET = 'application/octet-stream';
const STATUS_NAMES = ['UNKNOWN', 'OK', 'ACTOR_NOT_FOUND', 'ERROR'];

export interface ClientOptions {
  /** The node's protocol listener; default http://$PROXY_HTTP_HOST:$PROXY_HTTP_PORT. */
  proxyUrl?: string;
  /** Default system of `invoke` (default 'spawn-system'). */
  system?: string;
  /** Per-request deadline in ms (default 30000). */
  timeoutMs?: number;
}

export function defaultProxyUrl(env: NodeJS.ProcessEnv = process.env): string {
  return `http://${env.PROXY_HTTP_HOST || '127.0.0.1'}:${env.PROXY_HTTP_PORT || '9001'}`;
}

export class SpawnClient {
  readonly proxyUrl: string;
  readonly system: string;
  readonly timeoutMs: number;

  constructor(options: ClientOptions = {}) {
    this.proxyUrl = (options.proxyUrl ?? defaultProxyUrl()).replace(/\/+$/, '');
    this.system = options.system ?? 'spawn-system';
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** POST a protobuf message; returns the HTTP status and the decoded reply. */
  async post<T extends { status?: RequestStatus }>(
    path: string,
    body: Uint8Array,
    replySchema: Schema,
    headers: Record<string, string> = {},
  ): Promise<{ http: number; reply: T }> {
    let res: Response;
    try {
      res = await fetch(this.proxyUrl + path, {
        method: 'POST',
        body,
        headers: { 'Content-Type': OCTET, Accept: OCTET, ...headers },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      const why = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
      throw new SpawnError(`cannot reach the node at ${this.proxyUrl} (${why})`, 'TRANSPORT', 0);
    }
    const raw = new Uint8Array(await res.arrayBuffer()); // the whole body, then decode
    let reply: T;
    try {
      reply = decode<T>(replySchema, raw);
    } catch {
      const text = Buffer.from(raw.subarray(0, 300)).toString('utf8');
      throw new SpawnError(`HTTP ${res.status} from ${this.proxyUrl}${path}: ${text}`, 'UNKNOWN', res.status);
    }
    return { http: res.status, reply };
  }

  /** Invoke `action` on `actor` (any language) and resolve to its JSON reply. */
  async invoke<R = unknown>(actor: string, options: InvokeOptions): Promise<R> {
    const system = options.system ?? this.system;
    const req: Record<string, unknown> = {
      system: { name: system },
      actor: { id: { name: actor, system } },
      action_name: options.action,
      metadata: options.metadata,
      caller: options.caller,
      async: options.async,
      register_ref: options.ref,
      scheduled_to: options.scheduledTo,
    };
    if (options.payload === undefined) req.noop = {};
    else req.value = toAny(options.payload);
    const path = `/api/v1/system/${encodeURIComponent(system)}/actors/${encodeURIComponent(actor)}/invoke`;
    const { http, reply } = await this.post<{ status?: RequestStatus; value?: Any }>(
      path,
      encode(InvocationRequestS, req),
      InvocationResponseS,
    );
    check(http, reply.status, `${system}/${actor}.${options.action}`);
    if (!reply.value?.type_url) return undefined as R;
    if (!isJsonType(reply.value.type_url)) {
      throw new SpawnError(`reply of ${actor}.${options.action} is a ${reply.value.type_url}, not JSON`, 'ERROR', http);
    }
    return fromAny(reply.value) as R;
  }

  /** Create an unnamed actor `name` from template `parent`. */
  async spawnActor(name: string, options: { parent: string; system?: string }): Promise<void> {
    const system = options.system ?? this.system;
    const body = encode(SpawnRequestS, { actors: [{ name, system, parent: options.parent }] });
    const path = `/api/v1/system/${encodeURIComponent(system)}/actors/spawn`;
    const { http, reply } = await this.post<{ status?: RequestStatus }>(path, body, SpawnResponseS);
    check(http, reply.status, `spawn ${system}/${name}`);
  }

  /** Register a system's actors, retrying while the node is not up (Spawn's SDK: 60 x 1 s). */
  async register(
    body: Uint8Array,
    hostPort: number,
    options: { retries?: number; delayMs?: number; log?: (m: string) => void } = {},
  ): Promise<void> {
    const retries = options.retries ?? 60;
    let last: unknown;
    for (let attempt = 1; attempt <= retries; attempt++) {
      try {
        const { http, reply } = await this.post<{ status?: RequestStatus }>(
          '/api/v1/system',
          body,
          RegistrationResponseS,
          { 'X-Roost-Actor-Host-Port': String(hostPort) },
        );
        check(http, reply.status, 'registration');
        return;
      } catch (e) {
        last = e;
        if (e instanceof SpawnError && e.status !== 'TRANSPORT' && e.httpStatus < 500) throw e;
        options.log?.(`registration attempt ${attempt}/${retries} failed: ${(e as Error).message}`);
        if (attempt < retries) await new Promise((r) => setTimeout(r, options.delayMs ?? 1000));
      }
    }
    throw last;
  }
}

function check(http: number, status: RequestStatus | undefined, what: string): void {
  if (http === 200 && status?.status === Status.OK) return;
  const name = STATUS_NAMES[status?.status ?? 0] ?? 'UNKNOWN';
  const message = status?.message || `HTTP ${http}`;
  throw new SpawnError(`${what} failed: ${message}`, name, http);
}
