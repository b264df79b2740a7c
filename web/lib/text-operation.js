// The operation algebra over plain text (PROTOCOL §1, §7).
//
// An operation is a list of components walked left to right over the whole
// document: a positive integer n retains n characters, a non-empty string is
// inserted, a negative integer -n deletes n characters. Every length and
// position counts Unicode code points, never UTF-16 units, so that the browser,
// the Python engine and the server agree on what "5 characters" means.
//
// Shaped after ot.js's lib/text-operation.js; the differences are code point
// counting, strict validation in fromJSON, and compose/transform/transformIndex
// as plain functions.

import { advance, cpLength, cpSlice, hasSurrogates, isValidText } from "./codepoints.js";

/** Base class of every error raised by this module. */
export class OperationError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = new.target.name;
  }
}

/** A component or operation is malformed (PROTOCOL §7 `bad_op`). */
export class InvalidOperationError extends OperationError {}

/** An operation was applied to, composed or transformed with something of the wrong length. */
export class LengthMismatchError extends OperationError {}

/** @typedef {number | string} Component  n > 0 retain, string insert, n < 0 delete */

/** @param {Component|undefined} c */
const isRetain = (c) => typeof c === "number" && c > 0;
/** @param {Component|undefined} c */
const isDelete = (c) => typeof c === "number" && c < 0;
/** @param {Component|undefined} c */
const isInsert = (c) => typeof c === "string";

/**
 * @param {unknown} n
 * @param {string} what
 * @returns {asserts n is number}
 */
function checkCount(n, what) {
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
    throw new InvalidOperationError(`${what} needs a non-negative integer, got ${String(n)}`);
  }
}

export class TextOperation {
  constructor() {
    /**
     * The components in canonical form. Read it, never write it.
     * @type {Component[]}
     */
    this.ops = [];
    /** Code points of the document this operation applies to. */
    this.baseLength = 0;
    /** Code points of the document it produces. */
    this.targetLength = 0;
  }

  /**
   * Keep the next `n` code points. `retain(0)` does nothing.
   * @param {number} n
   * @returns {this}
   */
  retain(n) {
    checkCount(n, "retain");
    if (n === 0) return this;
    this.baseLength += n;
    this.targetLength += n;
    const last = this.ops.length - 1;
    if (isRetain(this.ops[last])) this.ops[last] = /** @type {number} */ (this.ops[last]) + n;
    else this.ops.push(n);
    return this;
  }

  /**
   * Insert `s` here. `insert("")` does nothing. Throws InvalidOperationError for
   * text that is not a string of Unicode scalar values or that contains U+0000.
   * @param {string} s
   * @returns {this}
   */
  insert(s) {
    if (typeof s !== "string") throw new InvalidOperationError(`insert needs a string, got ${typeof s}`);
    if (!isValidText(s)) throw new InvalidOperationError("inserted text has a lone surrogate or U+0000");
    return this._insert(s, cpLength(s));
  }

  /**
   * Insert already validated text of known code point length.
   * @param {string} s
   * @param {number} length code points of s
   * @returns {this}
   * @internal
   */
  _insert(s, length) {
    if (length === 0) return this;
    this.targetLength += length;
    const ops = this.ops;
    const last = ops.length - 1;
    if (isInsert(ops[last])) {
      ops[last] += s;
    } else if (isDelete(ops[last])) {
      // Canonical order puts the insert before an adjacent delete (ot.js does the same).
      if (isInsert(ops[last - 1])) ops[last - 1] += s;
      else {
        ops.push(ops[last]);
        ops[last] = s;
      }
    } else {
      ops.push(s);
    }
    return this;
  }

  /**
   * Delete the next `n` code points. `delete(0)` does nothing.
   * @param {number} n a count, not negative
   * @returns {this}
   */
  delete(n) {
    checkCount(n, "delete");
    if (n === 0) return this;
    this.baseLength += n;
    const last = this.ops.length - 1;
    if (isDelete(this.ops[last])) this.ops[last] = /** @type {number} */ (this.ops[last]) - n;
    else this.ops.push(-n);
    return this;
  }

  /**
   * Whether applying this operation leaves every document unchanged.
   * @returns {boolean}
   */
  isNoop() {
    return this.ops.length === 0 || (this.ops.length === 1 && isRetain(this.ops[0]));
  }

  /**
   * @param {TextOperation} other
   * @returns {boolean} whether both have the same canonical components
   */
  equals(other) {
    if (this.ops.length !== other.ops.length) return false;
    return this.ops.every((c, i) => c === other.ops[i]);
  }

  /**
   * The wire form: a fresh array of components in canonical form.
   * @returns {Component[]}
   */
  toJSON() {
    return this.ops.slice();
  }

  /** @returns {string} */
  toString() {
    return `TextOperation.fromJSON(${JSON.stringify(this.ops)})`;
  }

  /**
   * Parse the wire form, validating exactly as PROTOCOL §7 says: components are
   * safe integers other than 0 (not booleans, not floats, not NaN) or non-empty
   * strings of Unicode scalar values without U+0000. Valid but non-canonical
   * input (adjacent retains, a delete before an insert) is normalised.
   *
   * JSON `2.0` parses to the JavaScript number 2, so a float with an integral
   * value cannot be told apart here; the server rejects it.
   *
   * @param {unknown} json
   * @returns {TextOperation}
   * @throws {InvalidOperationError}
   */
  static fromJSON(json) {
    if (!Array.isArray(json)) throw new InvalidOperationError("an operation must be an array");
    const op = new TextOperation();
    for (let i = 0; i < json.length; i++) {
      const c = json[i];
      if (typeof c === "number") {
        if (!Number.isSafeInteger(c)) throw new InvalidOperationError(`component ${i} is not an integer: ${c}`);
        if (c === 0) throw new InvalidOperationError(`component ${i} is zero`);
        if (c > 0) op.retain(c);
        else op.delete(-c);
      } else if (typeof c === "string") {
        if (c === "") throw new InvalidOperationError(`component ${i} is an empty string`);
        op.insert(c);
      } else {
        const kind = c === null ? "null" : Array.isArray(c) ? "array" : typeof c;
        throw new InvalidOperationError(`component ${i} is a ${kind}`);
      }
    }
    return op;
  }

  /**
   * Apply to a document.
   *   apply(apply(S, A), B) == apply(S, compose(A, B))
   * @param {string} doc
   * @returns {string}
   * @throws {LengthMismatchError} when doc's code point length is not baseLength
   */
  apply(doc) {
    const simple = !hasSurrogates(doc);
    const length = simple ? doc.length : cpLength(doc);
    if (length !== this.baseLength) {
      throw new LengthMismatchError(`operation's base length ${this.baseLength} != document length ${length}`);
    }
    /** @type {string[]} */
    const parts = [];
    let pos = 0; // UTF-16 offset in doc
    for (const c of this.ops) {
      if (isInsert(c)) {
        parts.push(/** @type {string} */ (c));
      } else if (isRetain(c)) {
        const end = simple ? pos + /** @type {number} */ (c) : advance(doc, pos, /** @type {number} */ (c));
        parts.push(doc.slice(pos, end));
        pos = end;
      } else {
        pos = simple ? pos - /** @type {number} */ (c) : advance(doc, pos, -(/** @type {number} */ (c)));
      }
    }
    return parts.join("");
  }

  /**
   * The operation that undoes this one, given the document it was applied to.
   *   apply(apply(S, A), invert(A, S)) == S
   * @param {string} doc the document before this operation
   * @returns {TextOperation}
   * @throws {LengthMismatchError}
   */
  invert(doc) {
    const simple = !hasSurrogates(doc);
    const length = simple ? doc.length : cpLength(doc);
    if (length !== this.baseLength) {
      throw new LengthMismatchError(`operation's base length ${this.baseLength} != document length ${length}`);
    }
    const inverse = new TextOperation();
    let pos = 0;
    for (const c of this.ops) {
      if (isInsert(c)) {
        inverse.delete(cpLength(/** @type {string} */ (c)));
      } else if (isRetain(c)) {
        const n = /** @type {number} */ (c);
        inverse.retain(n);
        pos = simple ? pos + n : advance(doc, pos, n);
      } else {
        const n = -(/** @type {number} */ (c));
        const end = simple ? pos + n : advance(doc, pos, n);
        inverse._insert(doc.slice(pos, end), n);
        pos = end;
      }
    }
    return inverse;
  }

  /**
   * `compose(this, other)`.
   * @param {TextOperation} other
   * @returns {TextOperation}
   */
  compose(other) {
    return compose(this, other);
  }
}

/**
 * Walks the components of an operation, handing out pieces of them. Inserts
 * carry their code point length so that splitting one never re-counts it.
 */
class Cursor {
  /** @param {Component[]} ops */
  constructor(ops) {
    this.ops = ops;
    this.index = 0;
    /** @type {Component|undefined} */
    this.current = undefined;
    /** Code points left in the current component (retain, insert or delete). */
    this.length = 0;
    this.next();
  }

  next() {
    const c = this.ops[this.index++];
    this.current = c;
    this.length = c === undefined ? 0 : typeof c === "string" ? cpLength(c) : Math.abs(c);
  }

  /** @returns {boolean} */
  get done() {
    return this.current === undefined;
  }

  /**
   * Consume `n` code points (n <= this.length) of the current component.
   * @param {number} n
   * @returns {string} the consumed text when the component is an insert, else ""
   */
  take(n) {
    const c = this.current;
    let text = "";
    if (n === this.length) {
      if (typeof c === "string") text = c;
      this.next();
      return text;
    }
    if (typeof c === "string") {
      text = cpSlice(c, 0, n);
      this.current = c.slice(text.length);
    } else {
      this.current = /** @type {number} */ (c) > 0 ? this.length - n : n - this.length;
    }
    this.length -= n;
    return text;
  }
}

/**
 * Compose two consecutive operations into one with the same effect.
 *   apply(apply(S, A), B) == apply(S, compose(A, B))
 * @param {TextOperation} a
 * @param {TextOperation} b applies to the result of a
 * @returns {TextOperation}
 * @throws {LengthMismatchError} when a.targetLength != b.baseLength
 */
export function compose(a, b) {
  if (a.targetLength !== b.baseLength) {
    throw new LengthMismatchError(`compose: first target length ${a.targetLength} != second base length ${b.baseLength}`);
  }
  const result = new TextOperation();
  const x = new Cursor(a.ops);
  const y = new Cursor(b.ops);
  for (;;) {
    if (isDelete(x.current)) {
      result.delete(x.length);
      x.next();
      continue;
    }
    if (isInsert(y.current)) {
      result._insert(/** @type {string} */ (y.current), y.length);
      y.next();
      continue;
    }
    if (x.done || y.done) break; // lengths agree, so both end together
    const n = Math.min(x.length, y.length);
    if (isRetain(x.current)) {
      x.take(n);
      if (isRetain(y.current)) result.retain(n);
      else result.delete(n);
      y.take(n);
    } else {
      // x inserts: b keeps the text (insert it) or deletes it (drop both).
      const text = x.take(n);
      if (isRetain(y.current)) result._insert(text, n);
      y.take(n);
    }
  }
  return result;
}

/**
 * Transform two concurrent operations on the same document so that each can
 * be applied after the other:
 *   [a', b'] = transform(a, b)
 *   apply(apply(S, a), b') == apply(apply(S, b), a')
 * Where both insert at the same position, a's insert ends up first.
 * @param {TextOperation} a
 * @param {TextOperation} b
 * @returns {[TextOperation, TextOperation]}
 * @throws {LengthMismatchError} when the base lengths differ
 */
export function transform(a, b) {
  if (a.baseLength !== b.baseLength) {
    throw new LengthMismatchError(`transform: base lengths differ (${a.baseLength} != ${b.baseLength})`);
  }
  const aPrime = new TextOperation();
  const bPrime = new TextOperation();
  const x = new Cursor(a.ops);
  const y = new Cursor(b.ops);
  for (;;) {
    if (isInsert(x.current)) {
      aPrime._insert(/** @type {string} */ (x.current), x.length);
      bPrime.retain(x.length);
      x.next();
      continue;
    }
    if (isInsert(y.current)) {
      aPrime.retain(y.length);
      bPrime._insert(/** @type {string} */ (y.current), y.length);
      y.next();
      continue;
    }
    if (x.done || y.done) break;
    const n = Math.min(x.length, y.length);
    if (isRetain(x.current) && isRetain(y.current)) {
      aPrime.retain(n);
      bPrime.retain(n);
    } else if (isDelete(x.current) && isRetain(y.current)) {
      aPrime.delete(n);
    } else if (isRetain(x.current) && isDelete(y.current)) {
      bPrime.delete(n);
    } // both delete the same text: neither needs to
    x.take(n);
    y.take(n);
  }
  return [aPrime, bPrime];
}

/**
 * Move a position (a caret, a selection end) through an operation. A position
 * exactly where the operation inserts text moves after the inserted text
 * (PROTOCOL §7, ot.js transformIndex); a position inside deleted text moves to
 * where the deletion was.
 *   i <= j  implies  transformIndex(i, A) <= transformIndex(j, A)
 *   0 <= transformIndex(i, A) <= A.targetLength  for 0 <= i <= A.baseLength
 * @param {number} index code point offset in op's base document
 * @param {TextOperation} op
 * @returns {number} code point offset in op's target document
 */
export function transformIndex(index, op) {
  let newIndex = index;
  let remaining = index;
  for (const c of op.ops) {
    if (isRetain(c)) {
      remaining -= /** @type {number} */ (c);
    } else if (isInsert(c)) {
      newIndex += cpLength(/** @type {string} */ (c));
    } else {
      const n = -(/** @type {number} */ (c));
      newIndex -= Math.min(remaining, n);
      remaining -= n;
    }
    if (remaining < 0) break;
  }
  return newIndex;
}
