// `Value`: what an action returns — new state, reply, and workflow steps (Spawn's shape).

export interface Effect {
  actor: string;
  action: string;
  payload?: unknown;
  system?: string;
  parent?: string;
  metadata?: Record<string, string>;
  delayMs?: number;
}
export interface Route {
  actor: string;
  action: string;
  parent?: string;
}

export class Value<S = unknown, R = unknown> {
  hasState = false;
  newState: S | undefined;
  hasReply = false;
  reply: R | undefined;
  wantsCheckpoint = false;
  effects: Effect[] = [];
  pipeTo: Route | undefined;
  forwardTo: Route | undefined;
  broadcastTo: { channel: string; payload?: unknown } | undefined;
  tags: Record<string, string> | undefined;

  static of<S = unknown, R = unknown>(): Value<S, R> {
    return new Value<S, R>();
  }

  /** The actor's state after this action (omit to keep it). */
  state(state: S): this {
    this.hasState = true;
    this.newState = state;
    return this;
  }

  /** What the caller receives. */
  response(reply: R): this {
    this.hasReply = true;
    this.reply = reply;
    return this;
  }

  /** Replace the actor's tags. */
  withTags(tags: Record<string, string>): this {
    this.tags = tags;
    return this;
  }

  /** Ask the node to persist this state before it replies. */
  checkpoint(): this {
    this.wantsCheckpoint = true;
    return this;
  }

  /** Invoke another actor after the reply (its failure is logged by the node, not returned). */
  effect(effect: Effect): this {
    this.effects.push(effect);
    return this;
  }

  /** Send this action's reply to `actor.action`; the caller gets that action's reply. */
  pipe(actor: string, action: string, parent?: string): this {
    this.pipeTo = { actor, action, parent };
    this.forwardTo = undefined;
    return this;
  }

  /** Send this action's input to `actor.action`; the caller gets that action's reply. */
  forward(actor: string, action: string, parent?: string): this {
    this.forwardTo = { actor, action, parent };
    this.pipeTo = undefined;
    return this;
  }

  /** Deliver `payload` to every actor subscribed to `channel`. */
  broadcast(channel: string, payload?: unknown): this {
    this.broadcastTo = { channel, payload };
    return this;
  }
}
