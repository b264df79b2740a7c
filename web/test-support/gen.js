// Generators of documents and operations for fuzz tests. Each operation comes
// with the document it produces, built alongside it and never computed with
// apply (so apply is tested against something independent).

import { TextOperation } from "../lib/text-operation.js";

/**
 * Pieces text is made of, on purpose including astral characters (two UTF-16
 * units, one code point), combining marks (two code points, one glyph), an
 * emoji with a skin tone modifier (two code points) and a CRLF line break.
 */
export const PIECES = ["a", "b", "c", " ", "\n", "\r\n", "é", "e\u0301", "中", "😀", "👍🏽", "𝒳", "\u200d", "ß"];

/**
 * @param {import("./prng.js").Random} rng
 * @param {number} maxPieces
 * @returns {string}
 */
export function randomText(rng, maxPieces) {
  let s = "";
  const n = rng.int(maxPieces + 1);
  for (let i = 0; i < n; i++) s += rng.pick(PIECES);
  return s;
}

/**
 * A random operation on `doc`, with its expected result.
 * @param {import("./prng.js").Random} rng
 * @param {string} doc
 * @returns {{op: TextOperation, result: string}}
 */
export function randomOperation(rng, doc) {
  const points = Array.from(doc);
  const op = new TextOperation();
  let result = "";
  let i = 0;
  while (i < points.length || rng.chance(0.2)) {
    const left = points.length - i;
    const r = rng.next();
    if (r < 0.2 || left === 0) {
      const s = randomText(rng, 3) || "x";
      op.insert(s);
      result += s;
      if (left === 0) break;
    } else if (r < 0.5) {
      const n = 1 + rng.int(Math.min(left, 4));
      op.delete(n);
      i += n;
    } else {
      const n = 1 + rng.int(left);
      op.retain(n);
      result += points.slice(i, i + n).join("");
      i += n;
    }
  }
  if (i < points.length) {
    op.retain(points.length - i);
    result += points.slice(i).join("");
  }
  return { op, result };
}

/**
 * Whether a component list is in canonical form (PROTOCOL §1).
 * @param {(number|string)[]} ops
 * @returns {boolean}
 */
export function isCanonical(ops) {
  const kind = (/** @type {number|string} */ c) => (typeof c === "string" ? "insert" : c > 0 ? "retain" : "delete");
  for (let i = 0; i < ops.length; i++) {
    const c = ops[i];
    if (c === 0 || c === "") return false;
    if (typeof c === "number" && !Number.isInteger(c)) return false;
    if (i > 0) {
      const prev = kind(ops[i - 1]);
      if (prev === kind(c)) return false;
      if (prev === "delete" && kind(c) === "insert") return false;
    }
  }
  return true;
}

/**
 * A valid but non-canonical spelling of the same operation: components split
 * in two and adjacent insert/delete pairs swapped.
 * @param {import("./prng.js").Random} rng
 * @param {(number|string)[]} ops canonical components
 * @returns {(number|string)[]}
 */
export function scramble(rng, ops) {
  /** @type {(number|string)[]} */
  const out = [];
  for (const c of ops) {
    if (typeof c === "string") {
      const points = Array.from(c);
      if (points.length > 1 && rng.chance(0.5)) {
        const k = 1 + rng.int(points.length - 1);
        out.push(points.slice(0, k).join(""), points.slice(k).join(""));
      } else out.push(c);
    } else if (Math.abs(c) > 1 && rng.chance(0.5)) {
      const k = 1 + rng.int(Math.abs(c) - 1);
      out.push(Math.sign(c) * k, Math.sign(c) * (Math.abs(c) - k));
    } else out.push(c);
  }
  // Move deletes before the inserts that follow them (the reverse of canonical).
  for (let i = 0; i + 1 < out.length; i++) {
    const next = out[i + 1];
    if (typeof out[i] === "string" && typeof next === "number" && next < 0 && rng.chance(0.7)) {
      [out[i], out[i + 1]] = [out[i + 1], out[i]];
      i++;
    }
  }
  return out;
}
