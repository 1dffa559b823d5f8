// A minimal protobuf wire codec, driven by schema tables: the subset Spawn's messages use
// (varints, length-delimited strings, bytes, messages and maps). Encoding is deterministic
// (fields by number, map entries by key), so the bytes match other deterministic encoders.

export type Scalar = 'string' | 'bytes' | 'int32' | 'int64' | 'bool' | 'enum';
export interface Schema {
  [field: string]: Field;
}
export interface Field {
  no: number;
  type: Scalar | Schema;
  repeated?: boolean;
  map?: boolean; // map<string, string> when type is 'string', map<string, Message> when a Schema
}

export class DecodeError extends Error {
  override name = 'DecodeError';
}

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

class Writer {
  private parts: number[] = [];
  private chunks: Uint8Array[] = [];

  varint(n: number | bigint): void {
    let v = BigInt.asUintN(64, BigInt(n));
    if (v < 0x80n) {
      this.parts.push(Number(v));
      return;
    }
    while (v >= 0x80n) {
      this.parts.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.parts.push(Number(v));
  }

  bytes(b: Uint8Array): void {
    this.varint(b.length);
    this.flush();
    this.chunks.push(b);
  }

  private flush(): void {
    if (this.parts.length) {
      this.chunks.push(Uint8Array.from(this.parts));
      this.parts = [];
    }
  }

  finish(): Uint8Array {
    this.flush();
    return Buffer.concat(this.chunks);
  }
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

export function encode(schema: Schema, msg: Record<string, unknown>): Uint8Array {
  const w = new Writer();
  const fields = Object.entries(schema).sort((a, b) => a[1].no - b[1].no);
  for (const [name, f] of fields) {
    const v = msg[name];
    if (v === undefined || v === null) continue;
    if (f.map) {
      const entries = Object.entries(v as Record<string, unknown>).sort(([a], [b]) =>
        a < b ? -1 : a > b ? 1 : 0,
      );
      for (const [key, value] of entries) {
        const e = new Writer(); // both key and value are written, defaults too (as protoc does)
        writeOne(e, { no: 1, type: 'string' }, key, true);
        writeOne(e, { no: 2, type: f.type }, value, true);
        w.varint((f.no << 3) | LEN);
        w.bytes(e.finish());
      }
    } else if (f.repeated) {
      for (const item of v as unknown[]) writeOne(w, f, item, true);
    } else {
      writeOne(w, f, v, false);
    }
  }
  return w.finish();
}

function writeOne(w: Writer, f: Field, v: unknown, always: boolean): void {
  if (typeof f.type === 'object') {
    w.varint((f.no << 3) | LEN);
    w.bytes(encode(f.type, v as Record<string, unknown>));
    return;
  }
  switch (f.type) {
    case 'string':
      if (v === '' && !always) return;
      w.varint((f.no << 3) | LEN);
      w.bytes(utf8.encode(String(v)));
      return;
    case 'bytes':
      if ((v as Uint8Array).length === 0 && !always) return;
      w.varint((f.no << 3) | LEN);
      w.bytes(v as Uint8Array);
      return;
    case 'bool':
      if (!v && !always) return;
      w.varint(f.no << 3);
      w.varint(v ? 1 : 0);
      return;
    default: // int32, int64, enum
      if ((v === 0 || v === 0n) && !always) return;
      w.varint(f.no << 3);
      w.varint(v as number | bigint);
  }
}

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  varint(): bigint {
    let shift = 0n;
    let out = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) throw new DecodeError('truncated varint');
      const b = this.buf[this.pos++];
      out |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return out;
      shift += 7n;
      if (shift > 63n) throw new DecodeError('varint longer than 64 bits');
    }
  }

  bytes(): Uint8Array {
    const n = Number(this.varint());
    if (n > this.buf.length - this.pos) throw new DecodeError('length past the end of the message');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  skip(wire: number): void {
    if (wire === VARINT) this.varint();
    else if (wire === LEN) this.bytes();
    else if (wire === I64 || wire === I32) {
      this.pos += wire === I64 ? 8 : 4;
      if (this.pos > this.buf.length) throw new DecodeError('truncated fixed-width field');
    } else throw new DecodeError(`unsupported wire type ${wire}`);
  }
}

export function decode<T = Record<string, unknown>>(schema: Schema, buf: Uint8Array): T {
  const byNo = new Map<number, [string, Field]>();
  for (const [name, f] of Object.entries(schema)) byNo.set(f.no, [name, f]);
  const out: Record<string, unknown> = {};
  const r = new Reader(buf);
  while (!r.done) {
    const tag = Number(r.varint());
    const no = tag >>> 3;
    const wire = tag & 7;
    const hit = byNo.get(no);
    if (!hit) {
      r.skip(wire);
      continue;
    }
    const [name, f] = hit;
    if (f.map) {
      const entry: Schema = { key: { no: 1, type: 'string' }, value: { no: 2, type: f.type } };
      const e = decode<{ key?: string; value?: unknown }>(entry, expect(r, wire, LEN));
      const map = (out[name] ??= {}) as Record<string, unknown>;
      map[e.key ?? ''] = e.value ?? (typeof f.type === 'object' ? {} : '');
    } else {
      const v = readOne(r, f, wire);
      if (f.repeated) ((out[name] ??= []) as unknown[]).push(v);
      else out[name] = v;
    }
  }
  return out as T;
}

function expect(r: Reader, wire: number, want: number): Uint8Array {
  if (wire !== want) throw new DecodeError(`wire type ${wire} where ${want} was expected`);
  return r.bytes();
}

function readOne(r: Reader, f: Field, wire: number): unknown {
  if (typeof f.type === 'object') return decode(f.type, expect(r, wire, LEN));
  switch (f.type) {
    case 'string':
      try {
        return fromUtf8.decode(expect(r, wire, LEN));
      } catch (e) {
        if (e instanceof DecodeError) throw e;
        throw new DecodeError('string field is not valid UTF-8');
      }
    case 'bytes':
      return Uint8Array.from(expect(r, wire, LEN));
    case 'bool':
      if (wire !== VARINT) throw new DecodeError('bool is not a varint');
      return r.varint() !== 0n;
    case 'int64': {
      if (wire !== VARINT) throw new DecodeError('int64 is not a varint');
      const v = BigInt.asIntN(64, r.varint());
      return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(v)
        : v;
    }
    default: // int32, enum
      if (wire !== VARINT) throw new DecodeError(`${f.type} is not a varint`);
      return Number(BigInt.asIntN(32, r.varint()));
  }
}
