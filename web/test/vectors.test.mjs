// Replays the shared vector file that the Python engine replays too, so both
// implementations agree case by case. The file lives at the repository root:
// tests/vectors/text_operations.json (OT_VECTORS may point elsewhere).
// A missing or empty file is a failure, never a silent pass.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import { TextOperation, compose, transform, transformIndex } from "../lib/text-operation.js";
import { hasIntegralFloat, parseKeepingFloats, unmark } from "../test-support/json-floats.js";

const VECTORS_URL = new URL("../../tests/vectors/text_operations.json", import.meta.url);
const path = process.env.OT_VECTORS || fileURLToPath(VECTORS_URL);

/** @type {{cases: any[]} | null} */
let vectors = null;
/** @type {string | null} */
let problem = null;
try {
  vectors = parseKeepingFloats(readFileSync(path, "utf8"));
  if (!vectors || !Array.isArray(vectors.cases)) problem = `${path} has no "cases" list`;
  else if (vectors.cases.length === 0) problem = `${path} has no cases`;
} catch (e) {
  const err = /** @type {NodeJS.ErrnoException} */ (e);
  problem =
    err.code === "ENOENT"
      ? `the shared vector file ${path} does not exist (it is written with the Python engine; see the task notes)`
      : `cannot read ${path}: ${err.message}`;
}

const op = (/** @type {unknown} */ json) => TextOperation.fromJSON(json);

/** @type {Record<string, (c: any, t: import("node:test").TestContext) => void>} */
const REPLAY = {
  apply(c) {
    assert.equal(op(c.op).apply(c.doc), c.result);
  },
  compose(c) {
    const a = op(c.a);
    const b = op(c.b);
    const ab = compose(a, b);
    assert.deepEqual(ab.toJSON(), c.result);
    if (typeof c.doc === "string") assert.equal(ab.apply(c.doc), b.apply(a.apply(c.doc)));
  },
  transform(c) {
    const a = op(c.a);
    const b = op(c.b);
    const [a1, b1] = transform(a, b);
    assert.deepEqual(a1.toJSON(), c.a_prime, "a'");
    assert.deepEqual(b1.toJSON(), c.b_prime, "b'");
    assert.equal(b1.apply(a.apply(c.doc)), c.result);
    assert.equal(a1.apply(b.apply(c.doc)), c.result);
  },
  invert(c) {
    const o = op(c.op);
    const inverse = o.invert(c.doc);
    assert.deepEqual(inverse.toJSON(), c.result);
    assert.equal(inverse.apply(o.apply(c.doc)), c.doc);
  },
  transform_index(c) {
    assert.equal(transformIndex(c.index, op(c.op)), c.result);
  },
  invalid(c, t) {
    if (hasIntegralFloat(c.raw_op)) {
      // JSON 2.0 parses to the number 2 in JavaScript: the client cannot see
      // the difference and relies on the server to reject it.
      t.skip("an integral float is indistinguishable from an integer in JavaScript");
      return;
    }
    assert.throws(() => op(c.op), { name: "InvalidOperationError" }, `${c.reason}: ${JSON.stringify(c.op)}`);
  },
  normalize(c) {
    assert.deepEqual(op(c.op).toJSON(), c.result);
  },
};

describe("shared vectors: tests/vectors/text_operations.json", () => {
  if (problem !== null || vectors === null) {
    test("the vector file is present", () => assert.fail(problem ?? "no vectors"));
    return;
  }
  for (const [i, raw] of vectors.cases.entries()) {
    const c = { ...unmark(raw), raw_op: raw.op };
    const name = String(c.name ?? `case ${i}`);
    test(name.startsWith(`${c.kind}:`) ? name : `${c.kind}: ${name}`, (t) => {
      const replay = Object.hasOwn(REPLAY, c.kind) ? REPLAY[c.kind] : undefined;
      if (replay === undefined) assert.fail(`unknown kind ${JSON.stringify(c.kind)}`);
      replay(c, t);
    });
  }
});
