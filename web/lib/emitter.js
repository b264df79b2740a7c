// Events for Connection, delivered between steps.
//
// Events raised while the connection handles a message (or an edit, or a
// timer) are queued and delivered when that step is complete, so a listener
// always sees a consistent connection and may itself call edit(). A listener
// that throws does not stop the others or the connection; its error is
// reported the way an uncaught error in an event handler is.

/** @param {unknown} error */
function rethrowLater(error) {
  queueMicrotask(() => {
    throw error;
  });
}

export class Emitter {
  /** @param {(error: unknown) => void} [reportError] default globalThis.reportError, else rethrown in a microtask */
  constructor(reportError) {
    this._reportError = reportError ?? globalThis.reportError ?? rethrowLater;
    /** @type {Map<string, Set<(detail: any) => void>>} */
    this._listeners = new Map();
    /** @type {[string, any][]} */
    this._queue = [];
    this._depth = 0;
  }

  /**
   * @param {string} type
   * @param {(detail: any) => void} listener
   * @returns {() => void} removes the listener
   */
  on(type, listener) {
    let set = this._listeners.get(type);
    if (set === undefined) this._listeners.set(type, (set = new Set()));
    set.add(listener);
    return () => this.off(type, listener);
  }

  /**
   * @param {string} type
   * @param {(detail: any) => void} listener
   */
  off(type, listener) {
    this._listeners.get(type)?.delete(listener);
  }

  /**
   * Queue an event for the end of the current step.
   * @param {string} type
   * @param {any} detail
   */
  emit(type, detail) {
    this._queue.push([type, detail]);
    if (this._depth === 0) this._flush();
  }

  /**
   * Run one step; events it raises are delivered when the outermost step ends.
   * @param {() => void} step
   */
  batch(step) {
    this._depth++;
    try {
      step();
    } finally {
      this._depth--;
    }
    if (this._depth === 0) this._flush();
  }

  _flush() {
    while (this._queue.length > 0) {
      const [type, detail] = /** @type {[string, any]} */ (this._queue.shift());
      for (const listener of [...(this._listeners.get(type) ?? [])]) {
        try {
          listener(detail);
        } catch (e) {
          this._reportError(e);
        }
      }
    }
  }
}
