// JSON.parse loses the difference between 2 and 2.0, and rejects the NaN and
// Infinity that Python's json module writes by default. The shared vector
// file may hold both in its "invalid" cases, so this parser marks every number
// written as a float, and NaN/Infinity, as {"$float": value} instead.

/**
 * Rewrite JSON text so that float literals, NaN and Infinity outside strings
 * become {"$float": ...} objects ({"$float": "NaN"} for the non-finite ones).
 * @param {string} text
 * @returns {string}
 */
export function markFloats(text) {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    const special = ["-Infinity", "Infinity", "NaN"].find((word) => text.startsWith(word, i));
    if (special !== undefined) {
      out += `{"$float":"${special}"}`;
      i += special.length;
      continue;
    }
    if (ch === "-" || (ch >= "0" && ch <= "9")) {
      let j = i + 1;
      while (j < text.length && /[0-9eE.+-]/.test(text[j])) j++;
      const literal = text.slice(i, j);
      out += /[.eE]/.test(literal) ? `{"$float":${literal}}` : literal;
      i = j;
      continue;
    }
    out += ch;
    i++;
  }
  return out;
}

/**
 * Parse JSON keeping float literals marked (see markFloats).
 * @param {string} text
 * @returns {any}
 */
export function parseKeepingFloats(text) {
  return JSON.parse(markFloats(text));
}

/**
 * @param {any} x
 * @returns {x is {$float: number | string}}
 */
export function isFloatMark(x) {
  return typeof x === "object" && x !== null && !Array.isArray(x) && Object.keys(x).length === 1 && "$float" in x;
}

/**
 * The value JSON.parse would have produced (NaN/Infinity as numbers).
 * @param {any} x
 * @returns {any}
 */
export function unmark(x) {
  if (isFloatMark(x)) return Number(x.$float);
  if (Array.isArray(x)) return x.map(unmark);
  if (typeof x === "object" && x !== null) return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, unmark(v)]));
  return x;
}

/**
 * Whether x holds a float literal with an integral value (like 2.0), which
 * JavaScript cannot tell from an integer once parsed.
 * @param {any} x
 * @returns {boolean}
 */
export function hasIntegralFloat(x) {
  if (isFloatMark(x)) return Number.isInteger(Number(x.$float));
  if (Array.isArray(x)) return x.some(hasIntegralFloat);
  if (typeof x === "object" && x !== null) return Object.values(x).some(hasIntegralFloat);
  return false;
}
