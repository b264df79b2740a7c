// A small seeded PRNG (mulberry32) for reproducible fuzz tests: a failure
// prints its seed, and the same seed replays the same case.

/**
 * @param {number} seed
 * @returns {() => number} uniform in [0, 1)
 */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A PRNG with the helpers the generators need. */
export class Random {
  /** @param {number} seed */
  constructor(seed) {
    this.seed = seed;
    this.next = mulberry32(seed);
  }

  /**
   * @param {number} n
   * @returns {number} an integer in [0, n)
   */
  int(n) {
    return Math.floor(this.next() * n);
  }

  /**
   * @template T
   * @param {T[]} items
   * @returns {T}
   */
  pick(items) {
    return items[this.int(items.length)];
  }

  /**
   * @param {number} p
   * @returns {boolean} true with probability p
   */
  chance(p) {
    return this.next() < p;
  }
}
