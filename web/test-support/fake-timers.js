// Manual clock for tests: timers fire only when the test advances time.

export class FakeTimers {
  constructor() {
    this.now = 0;
    this._nextId = 1;
    /** @type {{id: number, at: number, fn: () => void}[]} */
    this._timers = [];
    this.setTimeout = (/** @type {() => void} */ fn, /** @type {number} */ ms) => {
      const id = this._nextId++;
      this._timers.push({ id, at: this.now + Math.max(0, ms), fn });
      return id;
    };
    this.clearTimeout = (/** @type {number} */ id) => {
      this._timers = this._timers.filter((t) => t.id !== id);
    };
  }

  /** @returns {number} timers waiting */
  get pending() {
    return this._timers.length;
  }

  /** @returns {number[]} delays from now of the waiting timers, soonest first */
  delays() {
    return this._timers.map((t) => t.at - this.now).sort((a, b) => a - b);
  }

  /**
   * Move the clock forward by ms, firing due timers in order.
   * @param {number} ms
   */
  advance(ms) {
    const end = this.now + ms;
    for (;;) {
      let next = null;
      for (const t of this._timers) {
        if (t.at <= end && (next === null || t.at < next.at || (t.at === next.at && t.id < next.id))) next = t;
      }
      if (next === null) break;
      this._timers = this._timers.filter((t) => t !== next);
      this.now = next.at;
      next.fn();
    }
    this.now = end;
  }

  /** Fire every timer there is, including ones they start (bounded). */
  runAll() {
    for (let i = 0; i < 10_000 && this._timers.length > 0; i++) {
      const soonest = Math.min(...this._timers.map((t) => t.at));
      this.advance(soonest - this.now);
    }
  }
}
