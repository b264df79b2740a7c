// The editor edge: UTF-16 offsets (what a textarea's selectionStart and
// String.prototype.slice use) to and from code point offsets (what operations
// and the wire use), and operations built from a textarea change.
//
// Offsets outside the string clamp to its ends. An offset that falls between
// the two halves of a surrogate pair rounds down to before the pair; a changed
// region that splits a pair is widened to cover the whole pair.

import { cpLength, hasSurrogates, isHighSurrogate, isLowSurrogate } from "./codepoints.js";
import { TextOperation, transformIndex } from "./text-operation.js";

/** @typedef {[number, number]} Range  [anchor, head] */
/** @typedef {Range[]} Selection */

/**
 * @param {number} n
 * @param {number} max
 * @returns {number}
 */
function clamp(n, max) {
  return n < 0 ? 0 : n > max ? max : n;
}

/**
 * Whether UTF-16 offset `i` of `s` falls inside a surrogate pair.
 * @param {string} s
 * @param {number} i
 * @returns {boolean}
 */
function splitsPair(s, i) {
  return i > 0 && i < s.length && isHighSurrogate(s.charCodeAt(i - 1)) && isLowSurrogate(s.charCodeAt(i));
}

/**
 * Code point offset of UTF-16 offset `offset` in `s`.
 * @param {string} s
 * @param {number} offset UTF-16 units
 * @returns {number} code points
 */
export function utf16ToCodePoint(s, offset) {
  let i = clamp(offset, s.length);
  if (!hasSurrogates(s)) return i;
  if (splitsPair(s, i)) i--;
  return cpLength(s.slice(0, i));
}

/**
 * UTF-16 offset of code point offset `index` in `s`.
 * @param {string} s
 * @param {number} index code points
 * @returns {number} UTF-16 units
 */
export function codePointToUtf16(s, index) {
  if (!hasSurrogates(s)) return clamp(index, s.length);
  let i = 0;
  for (let k = 0; k < index && i < s.length; k++) {
    i += isHighSurrogate(s.charCodeAt(i)) && isLowSurrogate(s.charCodeAt(i + 1)) ? 2 : 1;
  }
  return i;
}

/**
 * Convert a selection from UTF-16 offsets to code point offsets in `s`.
 * @param {string} s
 * @param {Selection} selection
 * @returns {Selection}
 */
export function selectionToCodePoints(s, selection) {
  return selection.map(([anchor, head]) => [utf16ToCodePoint(s, anchor), utf16ToCodePoint(s, head)]);
}

/**
 * Convert a selection from code point offsets to UTF-16 offsets in `s`.
 * @param {string} s
 * @param {Selection} selection
 * @returns {Selection}
 */
export function selectionToUtf16(s, selection) {
  return selection.map(([anchor, head]) => [codePointToUtf16(s, anchor), codePointToUtf16(s, head)]);
}

/**
 * The operation that replaces UTF-16 range [from, to) of `oldValue` with
 * `text`. A range that cuts through a surrogate pair is widened to cover the
 * whole character; an insertion point inside a pair moves before it.
 * @param {string} oldValue
 * @param {number} from UTF-16 offset
 * @param {number} to UTF-16 offset, >= from
 * @param {string} text inserted text
 * @returns {TextOperation}
 * @throws {import("./text-operation.js").InvalidOperationError} if text has a lone surrogate or U+0000
 */
export function operationFromReplace(oldValue, from, to, text) {
  let start = clamp(from, oldValue.length);
  let end = clamp(Math.max(to, start), oldValue.length);
  const collapsed = start === end;
  if (splitsPair(oldValue, start)) start--;
  if (collapsed) end = start;
  else if (splitsPair(oldValue, end)) end++;
  const before = utf16ToCodePoint(oldValue, start);
  const deleted = cpLength(oldValue.slice(start, end));
  const after = cpLength(oldValue.slice(end));
  return new TextOperation().retain(before).insert(text).delete(deleted).retain(after);
}

/**
 * The changed region between two values: the longest common prefix and
 * suffix are kept. `cursor`, the caret after the change (UTF-16 offset in
 * `newValue`), resolves ambiguity: typing "a" between two "a"s is an insert
 * before the caret, not at the end of the run.
 * @param {string} oldValue
 * @param {string} newValue
 * @param {number} [cursor] UTF-16 offset in newValue where the change ends
 * @returns {{from: number, to: number, text: string}} replace oldValue[from, to) with text (UTF-16)
 */
export function changedRange(oldValue, newValue, cursor) {
  const minLength = Math.min(oldValue.length, newValue.length);
  const same = (/** @type {number} */ i, /** @type {number} */ j) => oldValue.charCodeAt(i) === newValue.charCodeAt(j);
  const tail = (/** @type {number} */ k) => same(oldValue.length - 1 - k, newValue.length - 1 - k);
  let prefix = 0;
  let suffix = 0;
  if (cursor === undefined) {
    while (prefix < minLength && same(prefix, prefix)) prefix++;
    while (suffix < minLength - prefix && tail(suffix)) suffix++;
  } else {
    // The change ends at the cursor: the common suffix lies after it.
    const suffixLimit = clamp(newValue.length - cursor, minLength);
    while (suffix < suffixLimit && tail(suffix)) suffix++;
    while (prefix < minLength - suffix && same(prefix, prefix)) prefix++;
  }
  // Never cut through a surrogate pair: the shared parts are identical in both
  // values, so checking oldValue is enough when the cut is inside it.
  if (prefix > 0 && isHighSurrogate(oldValue.charCodeAt(prefix - 1))) prefix--;
  if (suffix > 0 && isLowSurrogate(oldValue.charCodeAt(oldValue.length - suffix))) suffix--;
  return {
    from: prefix,
    to: oldValue.length - suffix,
    text: newValue.slice(prefix, newValue.length - suffix),
  };
}

/**
 * The operation that turns `oldValue` into `newValue`, as one replacement of
 * the changed region (see changedRange), counted in code points.
 * @param {string} oldValue
 * @param {string} newValue
 * @param {number} [cursor] UTF-16 offset in newValue where the change ends (e.g. selectionEnd after input)
 * @returns {TextOperation}
 */
export function operationFromChange(oldValue, newValue, cursor) {
  const { from, to, text } = changedRange(oldValue, newValue, cursor);
  return operationFromReplace(oldValue, from, to, text);
}

/**
 * Move a UTF-16 selection of `oldValue` through `op`, giving a UTF-16
 * selection of `newValue == op.apply(oldValue)`. For keeping a textarea's
 * caret in place when a remote operation changes its value.
 * @param {string} oldValue
 * @param {string} newValue
 * @param {TextOperation} op
 * @param {Selection} selection UTF-16 offsets in oldValue
 * @returns {Selection} UTF-16 offsets in newValue
 */
export function transformUtf16Selection(oldValue, newValue, op, selection) {
  return selection.map(([anchor, head]) => [
    codePointToUtf16(newValue, transformIndex(utf16ToCodePoint(oldValue, anchor), op)),
    codePointToUtf16(newValue, transformIndex(utf16ToCodePoint(oldValue, head), op)),
  ]);
}
