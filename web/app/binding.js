// The textarea edge of the editor: input becomes operations for the
// connection; remote operations change the textarea without moving the
// user's selection off their text.
//
// Invariant between events: the textarea shows `view.display`, and
// `view.doc` is the connection's text, except while an IME composition is
// open. The textarea must not be touched during a composition (that would
// cancel it), so remote operations that arrive meanwhile wait in `pending`;
// when it ends, the composed text L and the waiting remote operations R are
// the two sides of the OT diamond:
//
//   [L', R'] = transform(L, R)    L' goes to the connection (it follows R);
//                                 R' goes to the textarea (it follows L).

import { compose, transform, transformIndex } from "../lib/text-operation.js";
import { changedRange } from "../lib/utf16.js";
import { TextView } from "./text-view.js";

/** @typedef {import("../lib/text-operation.js").TextOperation} TextOperation */
/** @typedef {import("../lib/connection.js").Connection} Connection */
/** @typedef {import("./undo.js").UndoManager} UndoManager */

export class TextareaBinding {
  /**
   * @param {HTMLTextAreaElement} textarea
   * @param {Connection} connection
   * @param {UndoManager} undo
   * @param {() => void} changed called after the text or the local selection changed
   */
  constructor(textarea, connection, undo, changed) {
    this.textarea = textarea;
    this.connection = connection;
    this.undo = undo;
    this._changed = changed;
    /** What the textarea shows and the document behind it. */
    this.view = new TextView("");
    /** Whether a document has been loaded (the first welcome). */
    this.loaded = false;
    /** Whether an IME composition is open. */
    this.composing = false;
    /** @type {TextOperation | null} remote operations not yet shown, on view.doc */
    this._pending = null;
    /** Set when the connection stopped for good: edits could never be saved. */
    this._frozen = false;
    this._selectionKey = "";
    textarea.readOnly = true;

    const on = (/** @type {string} */ type, /** @type {(e: any) => void} */ fn) => textarea.addEventListener(type, fn);
    on("beforeinput", (/** @type {InputEvent} */ e) => this._beforeInput(e));
    on("input", (/** @type {InputEvent} */ e) => {
      if (!e.isComposing && !this.composing) this._commit(e.inputType ?? "");
    });
    on("compositionstart", () => {
      this._commit("");
      this.composing = true;
      this.undo.breakStep();
    });
    on("compositionend", () => {
      this.composing = false;
      this._commit("insertCompositionText");
    });
    on("keydown", (/** @type {KeyboardEvent} */ e) => this._keydown(e));
    for (const type of ["select", "keyup", "mouseup", "focus"]) on(type, () => this.reportSelection());
    textarea.ownerDocument.addEventListener("selectionchange", () => this.reportSelection());

    connection.on("reset", ({ text }) => this._reset(text));
    connection.on("change", ({ op }) => this._remote(op));
    connection.on("status", () => this._syncReadOnly());
  }

  /** Stop taking edits (the connection stopped for good). */
  freeze() {
    this._commit("");
    this._frozen = true;
    this._syncReadOnly();
  }

  _syncReadOnly() {
    this.textarea.readOnly = !this.loaded || this._frozen || this.connection.role === "view";
  }

  /** @returns {boolean} whether the textarea shows the connection's text (no composition, nothing waiting) */
  get settled() {
    return !this.composing && this._pending === null;
  }

  // ---- undo and redo ----------------------------------------------------------

  /** Undo this user's last step. */
  undoStep() {
    if (!this._ready()) return;
    this.undo.undo((op) => this._applyLocal(op));
    this._changed();
  }

  /** Redo the last undone step. */
  redoStep() {
    if (!this._ready()) return;
    this.undo.redo((op) => this._applyLocal(op));
    this._changed();
  }

  /** @returns {boolean} whether an undo or redo may run now */
  _ready() {
    if (!this.loaded || this.composing || this.textarea.readOnly) return false;
    this._commit("");
    return this._pending === null;
  }

  /** @param {KeyboardEvent} e */
  _keydown(e) {
    if (!(e.ctrlKey || e.metaKey) || e.altKey || e.isComposing) return;
    const key = e.key.toLowerCase();
    if (key === "z" && !e.shiftKey) {
      e.preventDefault();
      this.undoStep();
    } else if ((key === "z" && e.shiftKey) || (key === "y" && !e.shiftKey)) {
      e.preventDefault();
      this.redoStep();
    }
  }

  /** @param {InputEvent} e */
  _beforeInput(e) {
    // The browser's own history (Edit menu, context menu) knows nothing of
    // other users' edits: use ours.
    if (e.inputType === "historyUndo" || e.inputType === "historyRedo") {
      e.preventDefault();
      if (e.inputType === "historyUndo") this.undoStep();
      else this.redoStep();
    }
  }

  // ---- local edits -----------------------------------------------------------

  /**
   * Turn whatever changed in the textarea into an operation.
   * @param {string} kind the InputEvent.inputType, for grouping undo steps
   */
  _commit(kind) {
    const textarea = this.textarea;
    const value = textarea.value;
    const pending = this._pending;
    this._pending = null;
    const editable = this.loaded && !this._frozen && this.connection.role !== "view";
    if (value === this.view.display || !editable) {
      if (value !== this.view.display) this._replaceValue(this.view.display); // read-only: put it back
      if (pending !== null) {
        this._applyRemote(pending);
        this._selectionKey = "";
        this.reportSelection();
        this._changed();
      }
      return;
    }
    const before = this.view.doc;
    let op = this.view.operationTo(value, textarea.selectionEnd);
    this.view = new TextView(op.apply(before));
    if (this.view.display !== value) this._replaceValue(this.view.display); // a typed "\n" after a lone "\r"
    let base = before;
    if (pending !== null) {
      const [mine, theirs] = transform(op, pending);
      this._applyRemote(theirs);
      op = mine;
      base = pending.apply(before);
    }
    if (!op.isNoop()) {
      const inverse = op.invert(base);
      this.connection.edit(op);
      this.undo.record(op, inverse, kind);
    }
    this._checkInSync();
    this.reportSelection();
    this._changed();
  }

  /**
   * Apply an operation made here (an undo or redo step): to the textarea, the
   * caret after the change, and to the connection.
   * @param {TextOperation} op on view.doc
   * @returns {string} the document it applied to
   */
  _applyLocal(op) {
    const before = this.view.doc;
    const oldDisplay = this.view.display;
    this.view = new TextView(op.apply(before));
    const { from, text } = changedRange(oldDisplay, this.view.display);
    this._replaceValue(this.view.display);
    this.textarea.setSelectionRange(from + text.length, from + text.length);
    this.connection.edit(op);
    this.reportSelection();
    return before;
  }

  // ---- remote edits ------------------------------------------------------------

  /** @param {string} text */
  _reset(text) {
    const textarea = this.textarea;
    const [start, end] = [textarea.selectionStart, textarea.selectionEnd];
    this.view = new TextView(text);
    this._pending = null;
    this.composing = false;
    textarea.value = this.view.display;
    textarea.setSelectionRange(Math.min(start, textarea.value.length), Math.min(end, textarea.value.length));
    this.undo.clear();
    this.loaded = true;
    this._syncReadOnly();
    this._selectionKey = "";
    this.reportSelection();
    this._changed();
  }

  /** @param {TextOperation} op a remote operation on the document as it was */
  _remote(op) {
    this.undo.transform(op);
    if (this.composing || this._pending !== null || this.textarea.value !== this.view.display) {
      // The textarea holds input not yet turned into an operation: it goes
      // through the diamond in _commit, after every event of this batch.
      const first = this._pending === null;
      this._pending = first ? op : compose(/** @type {TextOperation} */ (this._pending), op);
      if (first && !this.composing) queueMicrotask(() => !this.composing && this._commit(""));
      return;
    }
    this._applyRemote(op);
    // The connection moved our selection through op itself; report what the
    // textarea shows once the whole batch of events is applied.
    this._selectionKey = "";
    queueMicrotask(() => this.reportSelection());
    this._changed();
  }

  /**
   * Show a remote operation, keeping the selection on the same text.
   * @param {TextOperation} op on view.doc
   */
  _applyRemote(op) {
    const textarea = this.textarea;
    const old = this.view;
    const start = old.toCodePoint(textarea.selectionStart);
    const end = old.toCodePoint(textarea.selectionEnd);
    const direction = textarea.selectionDirection;
    this.view = new TextView(op.apply(old.doc));
    const { scrollTop, scrollLeft } = textarea;
    this._replaceValue(this.view.display);
    textarea.setSelectionRange(
      this.view.fromCodePoint(transformIndex(start, op)),
      this.view.fromCodePoint(transformIndex(end, op)),
      direction,
    );
    textarea.scrollTop = scrollTop;
    textarea.scrollLeft = scrollLeft;
  }

  /**
   * Make the textarea show `display`, replacing only the part that differs
   * (cheaper than setting value, and it leaves the scroll position alone).
   * @param {string} display
   */
  _replaceValue(display) {
    const textarea = this.textarea;
    const { from, to, text } = changedRange(textarea.value, display);
    if (from !== to || text !== "") textarea.setRangeText(text, from, to, "preserve");
  }

  /** A safety net: should the textarea and the connection ever disagree, take the connection's text. */
  _checkInSync() {
    const text = this.connection.text;
    if (this.composing || this._pending !== null || text === null || text === this.view.doc) return;
    console.warn("collab: the editor drifted from the document; reloading the text");
    this._reset(text);
  }

  // ---- selection -----------------------------------------------------------

  /** Tell the others where our selection is (when it changed). */
  reportSelection() {
    if (!this.loaded || this.composing) return;
    const textarea = this.textarea;
    let anchor = textarea.selectionStart;
    let head = textarea.selectionEnd;
    if (textarea.selectionDirection === "backward") [anchor, head] = [head, anchor];
    /** @type {[number, number][]} */
    const selection = [[this.view.toCodePoint(anchor), this.view.toCodePoint(head)]];
    const key = selection.join(";");
    if (key === this._selectionKey) return;
    this._selectionKey = key;
    this.connection.setSelection(selection);
    this._changed();
  }
}
