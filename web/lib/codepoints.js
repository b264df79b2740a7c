// Code point helpers for JavaScript strings.
//
// The wire protocol counts Unicode code points (Python's len(str)); JavaScript
// strings index UTF-16 code units. An emoji such as "😀" is one code point but
// two units (a surrogate pair). Every helper here has a fast path for strings
// without surrogates, where units and code points coincide.
//
// A lone surrogate counts as one code point, as it does in Python; valid
// operations never contain one (see isValidText).

const SURROGATE = /[\uD800-\uDFFF]/;

/**
 * Whether `s` contains any surrogate code unit (so units and code points differ).
 * @param {string} s
 * @returns {boolean}
 */
export function hasSurrogates(s) {
  return SURROGATE.test(s);
}

/**
 * @param {number} unit a UTF-16 code unit
 * @returns {boolean}
 */
export function isHighSurrogate(unit) {
  return unit >= 0xd800 && unit <= 0xdbff;
}

/**
 * @param {number} unit a UTF-16 code unit
 * @returns {boolean}
 */
export function isLowSurrogate(unit) {
  return unit >= 0xdc00 && unit <= 0xdfff;
}

/**
 * Number of code points in `s` (Python's len).
 * @param {string} s
 * @returns {number}
 */
export function cpLength(s) {
  if (!SURROGATE.test(s)) return s.length;
  let n = 0;
  for (let i = 0; i < s.length; i++, n++) {
    if (isHighSurrogate(s.charCodeAt(i)) && isLowSurrogate(s.charCodeAt(i + 1))) i++;
  }
  return n;
}

/**
 * The UTF-16 offset reached by walking `count` code points forward from UTF-16
 * offset `from`, or -1 when fewer than `count` code points remain.
 * @param {string} s
 * @param {number} from UTF-16 offset, on a code point boundary
 * @param {number} count code points to skip
 * @returns {number}
 */
export function advance(s, from, count) {
  let i = from;
  for (let k = 0; k < count; k++) {
    if (i >= s.length) return -1;
    i += isHighSurrogate(s.charCodeAt(i)) && isLowSurrogate(s.charCodeAt(i + 1)) ? 2 : 1;
  }
  return i;
}

/**
 * Slice `s` by code point offsets, like Python's s[start:end] for
 * 0 <= start <= end <= len(s). Offsets past the end clamp to the end.
 * @param {string} s
 * @param {number} start code point offset
 * @param {number} [end] code point offset (default: the end)
 * @returns {string}
 */
export function cpSlice(s, start, end) {
  if (!SURROGATE.test(s)) return s.slice(start, end);
  let from = advance(s, 0, start);
  if (from < 0) return "";
  if (end === undefined) return s.slice(from);
  const to = advance(s, from, end - start);
  return s.slice(from, to < 0 ? s.length : to);
}

/**
 * Whether `s` may appear in a document: Unicode scalar values only (no lone
 * surrogate) and no U+0000 (PROTOCOL §7).
 * @param {string} s
 * @returns {boolean}
 */
export function isValidText(s) {
  if (s.includes("\0")) return false;
  if (!SURROGATE.test(s)) return true;
  if (typeof s.isWellFormed === "function") return s.isWellFormed();
  // Older browsers (before String.prototype.isWellFormed): check pairs by hand.
  for (let i = 0; i < s.length; i++) {
    const unit = s.charCodeAt(i);
    if (isHighSurrogate(unit) && isLowSurrogate(s.charCodeAt(i + 1))) i++;
    else if (isHighSurrogate(unit) || isLowSurrogate(unit)) return false;
  }
  return true;
}
