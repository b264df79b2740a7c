// What a textarea shows of a document, and the offsets between the two.
//
// A textarea cannot hold "\r": its value turns "\r\n" and a lone "\r" into
// "\n". The document may contain either (another client wrote them), so the
// editor shows `display` and maps offsets: the "\r" of a "\r\n" pair has no
// place in the display (it travels with its "\n"); a lone "\r" shows as "\n".
// Documents without "\r" (nearly all) take the identity fast path.
//
// Offsets here are UTF-16 (what the textarea and String.slice use); the
// conversions to code points (the wire's unit) are at the end.

import { changedRange, codePointToUtf16, operationFromReplace, utf16ToCodePoint } from "../lib/utf16.js";

/** @typedef {import("../lib/text-operation.js").TextOperation} TextOperation */

export class TextView {
  /** @param {string} doc */
  constructor(doc) {
    /** The document. */
    this.doc = doc;
    /** What the textarea shows. */
    this.display = doc;
    /** @type {number[]} document offsets of the "\r" of each "\r\n" pair, ascending */
    this._pairs = [];
    if (doc.includes("\r")) {
      this.display = doc.replace(/\r\n?/g, "\n");
      for (let i = doc.indexOf("\r\n"); i >= 0; i = doc.indexOf("\r\n", i + 2)) this._pairs.push(i);
    }
  }

  /**
   * Document offset of display offset `p` (where display character p is in
   * the document; the "\r" of a pair when p is its "\n").
   * @param {number} p
   * @returns {number}
   */
  toDoc(p) {
    const pairs = this._pairs;
    // pair k shows at display offset pairs[k] - k; count those before p
    let lo = 0;
    let hi = pairs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (pairs[mid] - mid < p) lo = mid + 1;
      else hi = mid;
    }
    return p + lo;
  }

  /**
   * Display offset of document offset `q` (between "\r" and "\n" rounds down).
   * @param {number} q
   * @returns {number}
   */
  toDisplay(q) {
    const pairs = this._pairs;
    // count the pairs whose "\r" is before q
    let lo = 0;
    let hi = pairs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (pairs[mid] < q) lo = mid + 1;
      else hi = mid;
    }
    // q just after the "\r" of a pair (inside it) gives that pair's own offset
    return q - lo;
  }

  /**
   * The operation on `doc` for the textarea now showing `value` instead of
   * `display`; `cursor` (UTF-16 in value) tells where the change ends.
   * @param {string} value
   * @param {number} [cursor]
   * @returns {TextOperation}
   */
  operationTo(value, cursor) {
    const { from, to, text } = changedRange(this.display, value, cursor);
    return operationFromReplace(this.doc, this.toDoc(from), this.toDoc(to), text);
  }

  /**
   * @param {number} p display offset
   * @returns {number} code point offset in doc
   */
  toCodePoint(p) {
    return utf16ToCodePoint(this.doc, this.toDoc(p));
  }

  /**
   * @param {number} index code point offset in doc
   * @returns {number} display offset
   */
  fromCodePoint(index) {
    return this.toDisplay(codePointToUtf16(this.doc, index));
  }
}
