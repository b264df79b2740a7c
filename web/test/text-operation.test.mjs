import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  InvalidOperationError,
  LengthMismatchError,
  OperationError,
  TextOperation,
  compose,
  transform,
  transformIndex,
} from "../lib/text-operation.js";
import { isCanonical, randomOperation, randomText, scramble } from "../test-support/gen.js";
import { Random } from "../test-support/prng.js";

const op = (/** @type {any[]} */ json) => TextOperation.fromJSON(json);
const FUZZ_RUNS = 500;

/**
 * Run `body` for FUZZ_RUNS seeds; a failure names its seed.
 * @param {(rng: Random) => void} body
 */
function fuzz(body) {
  for (let seed = 1; seed <= FUZZ_RUNS; seed++) {
    try {
      body(new Random(seed));
    } catch (e) {
      if (e instanceof Error) e.message = `seed ${seed}: ${e.message}`;
      throw e;
    }
  }
}

describe("builders", () => {
  test("skip empty components and merge neighbours of one kind", () => {
    const o = new TextOperation().retain(0).retain(2).retain(3).insert("").insert("ab").insert("c").delete(0).delete(1).delete(2);
    assert.deepEqual(o.toJSON(), [5, "abc", -3]);
    assert.equal(o.baseLength, 8);
    assert.equal(o.targetLength, 8);
  });

  test("put an insert before an adjacent delete", () => {
    assert.deepEqual(new TextOperation().retain(1).delete(2).insert("x").toJSON(), [1, "x", -2]);
    assert.deepEqual(new TextOperation().insert("a").delete(2).insert("b").toJSON(), ["ab", -2]);
    assert.deepEqual(new TextOperation().delete(1).insert("x").retain(1).toJSON(), ["x", -1, 1]);
  });

  test("count code points, not UTF-16 units", () => {
    const o = new TextOperation().insert("😀e\u0301").retain(2);
    assert.equal(o.baseLength, 2);
    assert.equal(o.targetLength, 5);
    assert.equal(o.apply("👍🏽"), "😀e\u0301👍🏽");
  });

  test("reject bad arguments", () => {
    assert.throws(() => new TextOperation().retain(-1), InvalidOperationError);
    assert.throws(() => new TextOperation().retain(1.5), InvalidOperationError);
    assert.throws(() => new TextOperation().delete(-2), InvalidOperationError);
    assert.throws(() => new TextOperation().insert(/** @type {any} */ (5)), InvalidOperationError);
    assert.throws(() => new TextOperation().insert("a\ud800"), InvalidOperationError);
    assert.throws(() => new TextOperation().insert("\0"), InvalidOperationError);
  });

  test("isNoop", () => {
    assert.ok(new TextOperation().isNoop());
    assert.ok(op([5]).isNoop());
    assert.ok(!op(["a"]).isNoop());
    assert.ok(!op([1, -1]).isNoop());
  });

  test("toString is a program that rebuilds the operation", () => {
    assert.equal(op([1, "a\n", -2]).toString(), 'TextOperation.fromJSON([1,"a\\n",-2])');
  });
});

describe("fromJSON", () => {
  const rejected = {
    "not an array": { 0: 1 },
    "a string": "abc",
    null: null,
    zero: [0],
    "negative zero": [-0],
    "empty string": [1, ""],
    true: [true],
    false: [false],
    float: [1.5],
    "negative float": [-0.5],
    NaN: [NaN],
    Infinity: [Infinity],
    "unsafe integer": [2 ** 53],
    null_component: [null],
    object: [{ retain: 1 }],
    array: [[1]],
    "lone high surrogate": ["\ud800"],
    "lone low surrogate": ["a\udc00b"],
    "reversed pair": ["\udc00\ud800"],
    "NUL": ["a\u0000"],
  };
  for (const [name, json] of Object.entries(rejected)) {
    test(`rejects ${name}`, () => {
      assert.throws(() => TextOperation.fromJSON(json), InvalidOperationError);
    });
  }

  test("errors are OperationErrors with their class name", () => {
    try {
      TextOperation.fromJSON([0]);
      assert.fail("no error");
    } catch (e) {
      assert.ok(e instanceof OperationError);
      assert.equal(/** @type {Error} */ (e).name, "InvalidOperationError");
    }
  });

  test("accepts the empty operation and a trailing retain", () => {
    assert.deepEqual(op([]).toJSON(), []);
    assert.deepEqual(op([5]).toJSON(), [5]);
    assert.deepEqual(op(["a", 3]).toJSON(), ["a", 3]);
  });

  test("normalises valid non-canonical input", () => {
    assert.deepEqual(op([1, 2, "a", "b", -1, -1]).toJSON(), [3, "ab", -2]);
    assert.deepEqual(op([1, -2, "x", 3]).toJSON(), [1, "x", -2, 3]);
    assert.deepEqual(op([-1, "a", -1, "b"]).toJSON(), ["ab", -2]);
  });

  test("accepts astral characters and combining marks", () => {
    const o = op(["😀", 1, "e\u0301"]);
    assert.equal(o.targetLength, 4);
  });

  test("toJSON returns a fresh list", () => {
    const o = op([1, "a"]);
    o.toJSON().push(7);
    assert.deepEqual(o.toJSON(), [1, "a"]);
  });
});

describe("apply and invert", () => {
  test("apply walks code points", () => {
    assert.equal(op([1, -1, "b"]).apply("😀😀"), "😀b");
    assert.equal(op([-1, 1]).apply("\r\n"), "\n");
    assert.equal(op([1, "\u0301", 1]).apply("e😀"), "e\u0301😀");
  });

  test("apply checks the length in code points", () => {
    assert.throws(() => op([2]).apply("😀"), LengthMismatchError);
    assert.throws(() => op([1]).apply("😀😀"), LengthMismatchError);
    assert.equal(op([1]).apply("😀"), "😀");
  });

  test("invert restores deleted astral text", () => {
    const doc = "a😀b";
    const o = op([1, -1, "x", 1]);
    assert.deepEqual(o.invert(doc).toJSON(), [1, "😀", -1, 1]);
    assert.equal(o.invert(doc).apply(o.apply(doc)), doc);
    assert.throws(() => o.invert("ab"), LengthMismatchError);
  });
});

describe("compose", () => {
  test("splits an insert by code points", () => {
    const a = op(["😀👍🏽x"]);
    const b = op([1, -2, 1]);
    assert.deepEqual(compose(a, b).toJSON(), ["😀x"]);
    assert.deepEqual(a.compose(b).toJSON(), ["😀x"]);
  });

  test("checks lengths", () => {
    assert.throws(() => compose(op([1]), op([2])), LengthMismatchError);
  });
});

describe("transform", () => {
  test("tie-break: a's insert first", () => {
    const [a1, b1] = transform(op(["a"]), op(["b"]));
    assert.equal(b1.apply(op(["a"]).apply("")), "ab");
    assert.equal(a1.apply(op(["b"]).apply("")), "ab");
    const [c1, d1] = transform(op(["b"]), op(["a"]));
    assert.equal(d1.apply("b"), "ba");
    assert.equal(c1.apply("a"), "ba");
  });

  test("concurrent deletes of the same text", () => {
    const [a1, b1] = transform(op([1, -2, 1]), op([2, -2]));
    assert.deepEqual(a1.toJSON(), [1, -1]);
    assert.deepEqual(b1.toJSON(), [1, -1]);
  });

  test("checks lengths", () => {
    assert.throws(() => transform(op([1]), op([2])), LengthMismatchError);
  });
});

describe("transformIndex", () => {
  test("an index at an insertion point moves after the inserted text", () => {
    assert.equal(transformIndex(2, op([2, "😀x", 1])), 4);
    assert.equal(transformIndex(0, op(["ab", 3])), 2);
    assert.equal(transformIndex(3, op([3, "ab"])), 5);
  });

  test("indexes before are kept, after are shifted, inside a deletion collapse", () => {
    const o = op([1, -2, "xyz", 2]);
    assert.deepEqual([0, 1, 2, 3, 4, 5].map((i) => transformIndex(i, o)), [0, 4, 4, 4, 5, 6]);
  });
});

describe("properties (seeded fuzz)", () => {
  test("apply gives the generated result; lengths and canonical form hold", () => {
    fuzz((rng) => {
      const doc = randomText(rng, 8);
      const { op: o, result } = randomOperation(rng, doc);
      assert.equal(o.apply(doc), result);
      assert.equal(o.baseLength, Array.from(doc).length);
      assert.equal(o.targetLength, Array.from(result).length);
      assert.ok(isCanonical(o.ops), `${o} is not canonical`);
    });
  });

  test("JSON round trip, and scrambled spellings normalise to the same operation", () => {
    fuzz((rng) => {
      const doc = randomText(rng, 8);
      const { op: o } = randomOperation(rng, doc);
      const wire = JSON.parse(JSON.stringify(o));
      assert.ok(TextOperation.fromJSON(wire).equals(o));
      const scrambled = scramble(rng, o.toJSON());
      assert.deepEqual(TextOperation.fromJSON(scrambled).toJSON(), o.toJSON(), JSON.stringify(scrambled));
    });
  });

  test("apply(apply(S, A), B) == apply(S, compose(A, B)), and compose is canonical", () => {
    fuzz((rng) => {
      const doc = randomText(rng, 8);
      const a = randomOperation(rng, doc);
      const b = randomOperation(rng, a.result);
      const ab = compose(a.op, b.op);
      assert.equal(ab.apply(doc), b.result);
      assert.ok(isCanonical(ab.ops), `${ab} is not canonical`);
    });
  });

  test("compose is associative", () => {
    fuzz((rng) => {
      const doc = randomText(rng, 6);
      const a = randomOperation(rng, doc);
      const b = randomOperation(rng, a.result);
      const c = randomOperation(rng, b.result);
      assert.deepEqual(compose(compose(a.op, b.op), c.op).toJSON(), compose(a.op, compose(b.op, c.op)).toJSON());
    });
  });

  test("apply(apply(S, a), b') == apply(apply(S, b), a') (TP1)", () => {
    fuzz((rng) => {
      const doc = randomText(rng, 8);
      const a = randomOperation(rng, doc);
      const b = randomOperation(rng, doc);
      const [a1, b1] = transform(a.op, b.op);
      assert.equal(b1.apply(a.result), a1.apply(b.result));
      assert.ok(isCanonical(a1.ops) && isCanonical(b1.ops));
      assert.deepEqual(compose(a.op, b1).toJSON(), compose(b.op, a1).toJSON());
    });
  });

  test("apply(apply(S, A), invert(A, S)) == S", () => {
    fuzz((rng) => {
      const doc = randomText(rng, 8);
      const { op: o, result } = randomOperation(rng, doc);
      const inverse = o.invert(doc);
      assert.equal(inverse.apply(result), doc);
      assert.equal(inverse.baseLength, o.targetLength);
      assert.equal(inverse.targetLength, o.baseLength);
    });
  });

  test("transformIndex is monotone and stays in the document", () => {
    fuzz((rng) => {
      const doc = randomText(rng, 8);
      const { op: o } = randomOperation(rng, doc);
      let previous = 0;
      for (let i = 0; i <= o.baseLength; i++) {
        const j = transformIndex(i, o);
        assert.ok(j >= previous && j <= o.targetLength, `${o}: ${i} -> ${j}`);
        previous = j;
      }
    });
  });
});
