// `RoostClient`: calls actors through a Roost cluster's public JSON API (port 8800), sending each
// call to the actor's owner. From its second call on it keeps a copy of the ring
// (GET /v1/cluster/ring: one entry per member, never a table per actor) and computes owners with
// `Ring`, as the nodes do. Every reply names the ring version the node routed with
// (X-Roost-Ring-Version); another version makes it fetch the ring again (at most once a second).
// A node that refuses the connection (nothing was sent) is skipped for a few seconds and the call
// goes to another node, which forwards it; a call that was sent and then cut off is never sent
// again: its outcome is unknown. A 429 (refused before it ran) is sent again after Retry-After.

import { SpawnError } from './errors';
import { HASH_NAME, Ring } from './ring';

export const RING_HEADER = 'x-roost-ring-version';
const REFRESH_EVERY_MS = 1000;
const DOWN_FOR_MS = 5000;
const MAX_SYSTEMS = 64;
// errors that mean the connection was never made, so the call was not sent
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

export interface RoostClientOptions {
  /** One node's URL, a comma list, or an array (default $ROOST_URL, else http://127.0.0.1:8800). */
  url?: string | string[];
  /** Bearer token (default $ROOST_API_TOKEN). */
  token?: string;
  /** Per-request deadline in ms (default 60000). */
  timeoutMs?: number;
  /** false: every call goes to the nodes named (default true). */
  ownerAware?: boolean;
  /** 429 re-sends (default 3). */
  retries?: number;
  /** The clock (ms), for tests. */
  now?: () => number;
}

export interface CallOptions {
  action: string;
  payload?: unknown;
  system?: string;
  /** Template of an unnamed actor. */
  parent?: string;
  metadata?: Record<string, string>;
}

interface RingMember {
  id: string;
  http: string;
  systems: string[] | null;
}

/** A client's copy of the ring document. */
export class ClientRing {
  readonly version: string;
  readonly ring: Ring;
  readonly urls = new Map<string, string>();
  private readonly systems = new Map<string, Set<string> | null>();
  private readonly rings = new Map<string, Ring>();

  constructor(doc: unknown, scheme: string) {
    const d = doc as { version?: unknown; vnodes?: unknown; hash?: unknown; members?: unknown };
    if (!d || d.hash !== HASH_NAME) throw new Error(`unsupported ring (hash ${String(d?.hash)})`);
    if (typeof d.version !== 'string' || !Number.isInteger(d.vnodes) || (d.vnodes as number) < 1 || !Array.isArray(d.members)) {
      throw new Error('malformed ring document');
    }
    this.version = d.version;
    for (const m of d.members as RingMember[]) {
      if (typeof m?.id !== 'string' || typeof m.http !== 'string') throw new Error('malformed ring member');
      this.urls.set(m.id, `${scheme}://${m.http}`);
      this.systems.set(m.id, m.systems == null ? null : new Set(m.systems));
    }
    this.ring = new Ring(this.urls.keys(), d.vnodes as number);
  }

  /** The members hosting `system` (no systems list: every system), as the nodes do. */
  ringFor(system: string): Ring {
    let ring = this.rings.get(system);
    if (!ring) {
      const hosts = [...this.systems].filter(([, s]) => s === null || s.has(system)).map(([m]) => m);
      ring = hosts.length === this.ring.size ? this.ring : this.ring.subset(hosts);
      if (this.rings.size >= MAX_SYSTEMS) this.rings.clear();
      this.rings.set(system, ring);
    }
    return ring;
  }

  ownerUrl(system: string, actor: string): string | undefined {
    const owner = this.ringFor(system).owner(system, actor);
    return owner === undefined ? undefined : this.urls.get(owner);
  }
}

export class RoostClient {
  readonly seeds: string[];
  ring: ClientRing | undefined;
  private readonly scheme: string;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly ownerAware: boolean;
  private readonly retries: number;
  private readonly now: () => number;
  private readonly down = new Map<string, number>();
  private calls = 0;
  private fetchedAt = -Infinity;
  private stale = false;
  private refreshing: Promise<boolean> | undefined;

  constructor(options: RoostClientOptions = {}) {
    const raw = options.url ?? process.env.ROOST_URL ?? 'http://127.0.0.1:8800';
    const list = Array.isArray(raw) ? raw : raw.split(',');
    this.seeds = list.map((u) => u.trim().replace(/\/+$/, '')).filter((u) => u);
    if (!this.seeds.length) throw new Error('no node URL given');
    this.scheme = this.seeds[0].includes('://') ? this.seeds[0].split('://')[0] : 'http';
    const token = options.token ?? process.env.ROOST_API_TOKEN;
    this.headers = token ? { Authorization: `Bearer ${token}` } : {};
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.ownerAware = options.ownerAware ?? true;
    this.retries = options.retries ?? 3;
    this.now = options.now ?? Date.now;
  }

  /** Invoke `action` on `actor` and resolve to its JSON reply. */
  async invoke<R = unknown>(actor: string, options: CallOptions): Promise<R> {
    const system = options.system ?? 'spawn-system';
    let path = `/v1/systems/${encodeURIComponent(system)}/actors/${encodeURIComponent(actor)}/actions/${encodeURIComponent(options.action)}`;
    if (options.parent) path += `?parent=${encodeURIComponent(options.parent)}`;
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (options.metadata) headers['X-Roost-Metadata'] = JSON.stringify(options.metadata);
    const body = options.payload === undefined ? '' : JSON.stringify(options.payload);
    this.calls++;
    if (this.calls >= 2) this.maybeRefresh(); // a one-shot client never fetches a ring
    const owner = this.ownerUrlOf(system, actor);
    for (let attempt = 0; ; attempt++) {
      try {
        return (await this.send('POST', path, body, headers, owner)) as R;
      } catch (e) {
        if (!(e instanceof Overloaded) || attempt >= this.retries) throw e instanceof Overloaded ? e.error : e;
        await new Promise((r) => setTimeout(r, Math.min(e.retryAfterMs, 10_000) * (0.8 + 0.4 * Math.random())));
      }
    }
  }

  /** Fetch the ring now; true when this client has one. Never throws. */
  async refresh(): Promise<boolean> {
    this.fetchedAt = this.now();
    this.stale = false;
    for (const base of this.candidates(undefined)) {
      let doc: unknown;
      try {
        doc = await this.once('GET', '/v1/cluster/ring', undefined, {}, base);
      } catch {
        continue; // an older node (404), a refused token, a node down: try the next
      }
      try {
        this.ring = new ClientRing(doc, this.scheme);
        return true;
      } catch {
        // a ring this client does not compute (the cluster is mid-upgrade from nodes that
        // predate it): forget the old copy, calls go through the nodes named
        this.ring = undefined;
        return false;
      }
    }
    return false;
  }

  /** Wait for a ring fetch in flight, if any (tests, orderly shutdown). */
  async settled(): Promise<void> {
    await this.refreshing;
  }

  private maybeRefresh(): void {
    if (!this.ownerAware || this.refreshing) return;
    if ((this.ring === undefined || this.stale) && this.now() - this.fetchedAt >= REFRESH_EVERY_MS) {
      this.refreshing = this.refresh().finally(() => (this.refreshing = undefined));
    }
  }

  private ownerUrlOf(system: string, actor: string): string | undefined {
    const url = this.ring?.ownerUrl(system, actor);
    return url !== undefined && (this.down.get(url) ?? 0) <= this.now() ? url : undefined;
  }

  private candidates(owner: string | undefined): string[] {
    const now = this.now();
    const up = (u: string) => (this.down.get(u) ?? 0) <= now;
    const out = owner ? [owner] : [];
    const add = (u: string) => {
      if (!out.includes(u)) out.push(u);
    };
    this.seeds.filter(up).forEach(add);
    const members = this.ring ? [...this.ring.urls.values()].sort() : [];
    members.filter(up).forEach(add);
    members.forEach(add);
    this.seeds.forEach(add);
    return out;
  }

  private async send(method: string, path: string, body: string | undefined, headers: Record<string, string>, owner: string | undefined): Promise<unknown> {
    const tried: string[] = [];
    for (const base of this.candidates(owner)) {
      try {
        return await this.once(method, path, body, headers, base);
      } catch (e) {
        if (!(e instanceof NotSent)) throw e;
        tried.push(e.message);
        this.down.set(base, this.now() + DOWN_FOR_MS);
        this.stale = true; // a member went away: the ring has likely changed
      }
    }
    throw new SpawnError(`cannot reach any node: ${tried.join('; ')}`, 'TRANSPORT', 0);
  }

  private async once(method: string, path: string, body: string | undefined, headers: Record<string, string>, base: string): Promise<unknown> {
    let res: Response;
    let raw: string;
    try {
      res = await fetch(base + path, {
        method,
        body: method === 'GET' ? undefined : body,
        headers: { ...this.headers, ...headers },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      raw = await res.text();
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause;
      if (cause?.code && NOT_SENT.has(cause.code)) throw new NotSent(`cannot connect to ${base} (${cause.code})`);
      const why = cause?.code ?? (e as Error).message;
      throw new SpawnError(`no answer from ${base} (${why}); the call may have run`, 'TIMEOUT', 0);
    }
    const version = res.headers.get(RING_HEADER);
    if (this.ring && version && version !== this.ring.version) this.stale = true;
    let data: unknown = null;
    try {
      data = raw ? JSON.parse(raw) : null;
    } catch {
      throw new SpawnError(`HTTP ${res.status} from ${base}: ${raw.slice(0, 200)}`, 'UNKNOWN', res.status);
    }
    if (res.status >= 400) {
      const err = (data as { error?: { code?: string; message?: string } } | null)?.error ?? {};
      const error = new SpawnError(err.message ?? `HTTP ${res.status}`, err.code ?? 'ERROR', res.status);
      if (res.status === 429) throw new Overloaded(error, Number(res.headers.get('retry-after') ?? '1') * 1000 || 1000);
      throw error;
    }
    return res.status === 202 ? null : data;
  }
}

class NotSent extends Error {}

class Overloaded extends Error {
  constructor(
    readonly error: SpawnError,
    readonly retryAfterMs: number,
  ) {
    super(error.message);
  }
}
