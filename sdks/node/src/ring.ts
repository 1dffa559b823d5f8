// The consistent-hash ring, exactly as Roost's nodes compute it (src/roost/placement/ring.py),
// so a client can send each call to the actor's owner. The whole definition:
//
// - a point is 6 bytes of a SHA-256 digest read big-endian: an integer below 2**48 (exact in a
//   JavaScript number); point(text) is the first 6 bytes of SHA-256(UTF-8 text);
// - member m puts `vnodes` points on the ring: the digest of `${m}#${j}` for j = 0, 1, ... gives
//   5 points each (bytes 0-5, 6-11, ..., 24-29), in that order, until there are `vnodes`;
// - the points are sorted by (point, then the member's UTF-8 bytes); of equal points only the
//   first is kept;
// - key `${system}/${actor}` is owned by the member of the first point >= point(key), wrapping
//   around to the first point of the ring.
//
// tests/sdks/test_node_ring.py feeds this and the Python ring the same members and compares
// owners for thousands of keys.

import { createHash } from 'node:crypto';

export const HASH_NAME = 'sha256-48';
export const DEFAULT_VNODES = 1000;
const POINTS_PER_DIGEST = 5;

export function point(text: string): number {
  return createHash('sha256').update(text, 'utf8').digest().readUIntBE(0, 6);
}

export function memberPoints(member: string, vnodes: number): number[] {
  const out: number[] = [];
  for (let j = 0; out.length < vnodes; j++) {
    const d = createHash('sha256').update(`${member}#${j}`, 'utf8').digest();
    for (let k = 0; k < POINTS_PER_DIGEST && out.length < vnodes; k++) out.push(d.readUIntBE(6 * k, 6));
  }
  return out;
}

/** UTF-8 byte order (not JavaScript's UTF-16 order), as Python's str order is. */
function byUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export class Ring {
  readonly members: string[];
  readonly vnodes: number;
  private readonly points: number[];
  private readonly owners: string[];

  constructor(members: Iterable<string>, vnodes: number = DEFAULT_VNODES, built?: [number[], string[]]) {
    this.members = [...new Set(members)].sort(byUtf8);
    this.vnodes = vnodes;
    [this.points, this.owners] = built ?? build(this.members, vnodes);
  }

  get size(): number {
    return this.members.length;
  }

  /** The member owning the actor, or undefined when the ring is empty. */
  owner(system: string, actor: string): string | undefined {
    if (this.members.length < 2) return this.members[0];
    const h = point(`${system}/${actor}`);
    const pts = this.points;
    let lo = 0;
    let hi = pts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (pts[mid] < h) lo = mid + 1;
      else hi = mid;
    }
    return this.owners[lo < pts.length ? lo : 0];
  }

  /** The ring over some of these members, by filtering points (no hashing). */
  subset(members: Iterable<string>): Ring {
    const keep = new Set([...members].filter((m) => this.members.includes(m)));
    const points: number[] = [];
    const owners: string[] = [];
    this.points.forEach((p, i) => {
      if (keep.has(this.owners[i])) {
        points.push(p);
        owners.push(this.owners[i]);
      }
    });
    return new Ring(keep, this.vnodes, keep.size < 2 ? [[], []] : [points, owners]);
  }
}

function build(members: string[], vnodes: number): [number[], string[]] {
  if (members.length < 2) return [[], []];
  const all: [number, number][] = []; // [point, index of the member in UTF-8 order]
  members.forEach((m, i) => {
    for (const p of memberPoints(m, vnodes)) all.push([p, i]);
  });
  all.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const points: number[] = [];
  const owners: string[] = [];
  for (const [p, i] of all) {
    if (points.length && points[points.length - 1] === p) continue; // equal points: first wins
    points.push(p);
    owners.push(members[i]);
  }
  return [points, owners];
}
