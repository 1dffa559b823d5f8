// Actor definitions: a name, settings and actions with JSON state.

import type { ActorId } from './messages';
import { Value } from './value';

export type Kind = 'named' | 'unnamed' | 'pooled';

export interface ActorOptions<S> {
  name: string;
  /** 'named' (one actor called by its name), 'unnamed' (a template), 'pooled'. */
  kind?: Kind;
  /** Whether the node keeps state for it (default true). */
  stateful?: boolean;
  /** The state before the first action changes it. */
  initialState?: S;
  /** ms between write-behind snapshots of changed state (default 10000). */
  snapshotTimeout?: number;
  /** ms of idleness before the node deactivates it (default 30000). */
  deactivatedTimeout?: number;
  /** Channels it subscribes to (broadcasts), each delivered to `action` (default 'receive'). */
  channels?: { topic: string; action?: string }[];
  /** Actions the node runs periodically. */
  timers?: { action: string; everyMs: number }[];
}

export interface InvokeOptions {
  action: string;
  system?: string;
  payload?: unknown;
  metadata?: Record<string, string>;
  /** Run without waiting for the reply (resolves to undefined). */
  async?: boolean;
  /** For an unnamed actor: its template, spawned on first use. */
  ref?: string;
  /** The calling actor (set for you by `ActorContext.invoke`). */
  caller?: ActorId;
  /** Run at this time (unix ms); resolves at once. */
  scheduledTo?: number;
}

export interface ActorContext<S = unknown> {
  /** Current state (`initialState` until the first change). */
  state: S | undefined;
  self: ActorId;
  caller: ActorId | undefined;
  metadata: Record<string, string>;
  tags: Record<string, string>;
  /** Invoke another actor (Python or Node) as this actor: the callee sees it as its caller. */
  invoke<R = unknown>(actor: string, options: InvokeOptions): Promise<R>;
}

export type Handler<S = any, P = any> = (
  ctx: ActorContext<S>,
  payload: P,
) => Value<any, any> | Promise<Value<any, any>> | void | Promise<void>;

export class ActorDefinition<S = any> {
  readonly actions = new Map<string, Handler<S>>();
  constructor(readonly options: ActorOptions<S>) {
    if (!options.name || options.name.includes('/')) {
      throw new TypeError(`actor name ${JSON.stringify(options.name)} is not valid`);
    }
  }

  get name(): string {
    return this.options.name;
  }

  /** Add an action; an action named init/Init/setup/Setup runs after each activation. */
  addAction<P = any>(spec: { name: string } | string, handler: Handler<S, P>): this {
    const name = typeof spec === 'string' ? spec : spec.name;
    if (!name || name.includes('/')) throw new TypeError(`action name ${JSON.stringify(name)}`);
    if (this.actions.has(name)) throw new TypeError(`${this.name} already has action ${name}`);
    this.actions.set(name, handler as Handler<S>);
    return this;
  }
}
