/**
 * A small seeded pseudo-random generator for the benchmark corpus: sfc32 (Chris Doty-Humphrey's
 * "small fast counting" generator), seeded through splitmix32. Only integer arithmetic feeds the
 * state, so the same seed gives the same sequence on every platform and Node version.
 */

/** Deterministic random source; every method draws from the same stream. */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** @param seed any integer; equal seeds give equal sequences */
  constructor(seed: number) {
    let s = seed >>> 0;
    const next = (): number => {
      // splitmix32: spreads a poor seed (0, 1, 2, ...) over the whole state
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A uniform float in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** A uniform integer in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo);
  }

  /** A uniform float in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + this.float() * (hi - lo);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** Exponentially distributed with the given rate (mean 1/rate). */
  expo(rate: number): number {
    return -Math.log(1 - this.float()) / rate;
  }

  /** Standard normal (Box-Muller; one value per call keeps the stream simple). */
  gauss(): number {
    const u = 1 - this.float();
    const v = this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** `n` random bytes. */
  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i += 4) {
      const x = this.u32();
      for (let k = 0; k < 4 && i + k < n; k++) out[i + k] = (x >>> (8 * k)) & 0xff;
    }
    return out;
  }

  /** Fisher-Yates shuffle in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = items[i]!;
      items[i] = items[j]!;
      items[j] = t;
    }
    return items;
  }
}

/** Weighted sampling by cumulative sums and binary search (relays are picked by bandwidth). */
export class WeightedPicker<T> {
  private readonly items: readonly T[];
  private readonly cum: Float64Array;
  private readonly total: number;

  /** @param items what to pick from @param weights one non-negative weight per item */
  constructor(items: readonly T[], weights: readonly number[]) {
    this.items = items;
    this.cum = new Float64Array(items.length);
    let t = 0;
    for (let i = 0; i < items.length; i++) {
      t += weights[i]!;
      this.cum[i] = t;
    }
    this.total = t;
  }

  /** One item, with probability proportional to its weight. */
  pick(rng: Prng): T {
    const x = rng.float() * this.total;
    let lo = 0;
    let hi = this.cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cum[mid]! > x) hi = mid;
      else lo = mid + 1;
    }
    return this.items[lo]!;
  }
}
