// Local undo and redo that touch only this user's edits (shaped after ot.js's
// UndoManager).
//
// The undo stack holds inverse operations; the top one applies to the current
// document. When another user's operation R arrives, every stacked operation
// is transformed against it, top first, handing the transformed R down:
//
//   [u', R'] = transform(u, R)    u' applies after R; R' applies after u
//
// so undoing later removes exactly what this user did, wherever it has moved,
// and leaves everyone else's text alone. An inverse that becomes a no-op (the
// text was already deleted by someone else) is dropped.
//
// Consecutive typing composes into one step while each keystroke follows the
// last within `composeWindow` ms and continues where it ended (ot.js's
// shouldBeComposedWith, with CodeMirror's sliding delay).

import { compose, transform, transformIndex } from "../lib/text-operation.js";
import { cpLength } from "../lib/codepoints.js";

/** @typedef {import("../lib/text-operation.js").TextOperation} TextOperation */

/** Input types (InputEvent.inputType) that count as typing or as deleting. */
const TYPING = new Set(["insertText", "insertLineBreak", "insertCompositionText", "insertReplacementText"]);
const DELETING = new Set(["deleteContentBackward", "deleteContentForward", "deleteWordBackward", "deleteWordForward"]);

/**
 * @param {string} kind an InputEvent.inputType, or anything else
 * @returns {"type" | "delete" | null} the group of edits it composes with
 */
function groupOf(kind) {
  if (TYPING.has(kind)) return "type";
  if (DELETING.has(kind)) return "delete";
  return null;
}

/**
 * An operation that only inserts or only deletes one run of text.
 * @param {TextOperation} op
 * @returns {{start: number, inserted: number, deleted: number} | null} code points
 */
export function simpleChange(op) {
  let start = 0;
  let inserted = 0;
  let deleted = 0;
  let seen = false;
  for (const c of op.ops) {
    if (typeof c === "number" && c > 0) {
      if (!seen) start += c;
      continue;
    }
    if (seen) return null; // a second changed run
    if (typeof c === "string") inserted = cpLength(c);
    else deleted = -c;
    seen = true;
  }
  if (!seen || (inserted > 0 && deleted > 0)) return null;
  return { start, inserted, deleted };
}

/**
 * Transform a stack (top last) through a remote operation on the current document.
 * @param {TextOperation[]} stack
 * @param {TextOperation} remote
 * @returns {TextOperation[]}
 */
function transformStack(stack, remote) {
  /** @type {TextOperation[]} */
  const out = [];
  let op = remote;
  for (let i = stack.length - 1; i >= 0; i--) {
    const [mine, theirs] = transform(stack[i], op);
    if (!mine.isNoop()) out.push(mine);
    op = theirs;
  }
  return out.reverse();
}

export class UndoManager {
  /**
   * @param {object} [options]
   * @param {number} [options.composeWindow] ms within which typing composes (default 1000)
   * @param {number} [options.limit] undo steps kept (default 500)
   * @param {() => number} [options.now] clock in ms (default Date.now)
   */
  constructor({ composeWindow = 1000, limit = 500, now = Date.now } = {}) {
    this._window = composeWindow;
    this._limit = limit;
    this._now = now;
    /** @type {TextOperation[]} inverses, top last */
    this.undoStack = [];
    /** @type {TextOperation[]} */
    this.redoStack = [];
    /** @type {{group: string, point: number, time: number} | null} where typing would continue */
    this._last = null;
  }

  get canUndo() {
    return this.undoStack.length > 0;
  }

  get canRedo() {
    return this.redoStack.length > 0;
  }

  /** Forget everything (the document was replaced). */
  clear() {
    this.undoStack = [];
    this.redoStack = [];
    this._last = null;
  }

  /** The next edit starts a new step (the caret jumped, the editor lost focus). */
  breakStep() {
    this._last = null;
  }

  /**
   * A local edit was made.
   * @param {TextOperation} op the edit, on the document before it
   * @param {TextOperation} inverse op.invert(document before it)
   * @param {string} [kind] InputEvent.inputType of the edit
   */
  record(op, inverse, kind = "") {
    if (op.isNoop()) return;
    this.redoStack = [];
    const group = groupOf(kind);
    const change = simpleChange(op);
    const time = this._now();
    const last = this._last;
    let composes = false;
    if (group !== null && change !== null && last !== null && last.group === group && time - last.time <= this._window) {
      if (group === "type") composes = change.inserted > 0 && change.start === last.point;
      else composes = change.deleted > 0 && (change.start + change.deleted === last.point || change.start === last.point);
    }
    if (composes && this.undoStack.length > 0) {
      const top = /** @type {TextOperation} */ (this.undoStack.pop());
      this.undoStack.push(compose(inverse, top));
    } else {
      this.undoStack.push(inverse);
      if (this.undoStack.length > this._limit) this.undoStack.shift();
    }
    this._last =
      group !== null && change !== null ? { group, point: change.start + change.inserted, time } : null;
  }

  /**
   * Another user's operation was applied to the document.
   * @param {TextOperation} remote
   */
  transform(remote) {
    this.undoStack = transformStack(this.undoStack, remote);
    this.redoStack = transformStack(this.redoStack, remote);
    if (this._last !== null) this._last = { ...this._last, point: transformIndex(this._last.point, remote) };
  }

  /**
   * Undo the last step: `apply(op)` applies op to the document as a local edit
   * and returns the document it applied to.
   * @param {(op: TextOperation) => string} apply
   * @returns {boolean} whether there was a step to undo
   */
  undo(apply) {
    const op = this.undoStack.pop();
    if (op === undefined) return false;
    this.redoStack.push(op.invert(apply(op)));
    this._last = null;
    return true;
  }

  /**
   * Redo the last undone step (see undo).
   * @param {(op: TextOperation) => string} apply
   * @returns {boolean}
   */
  redo(apply) {
    const op = this.redoStack.pop();
    if (op === undefined) return false;
    this.undoStack.push(op.invert(apply(op)));
    this._last = null;
    return true;
  }
}
