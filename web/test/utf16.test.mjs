import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { advance, cpLength, cpSlice, isValidText } from "../lib/codepoints.js";
import { transformIndex } from "../lib/text-operation.js";
import {
  changedRange,
  codePointToUtf16,
  operationFromChange,
  operationFromReplace,
  selectionToCodePoints,
  selectionToUtf16,
  transformUtf16Selection,
  utf16ToCodePoint,
} from "../lib/utf16.js";
import { randomOperation, randomText } from "../test-support/gen.js";
import { Random } from "../test-support/prng.js";

describe("code point helpers", () => {
  test("cpLength agrees with Array.from", () => {
    for (const s of ["", "abc", "😀", "a😀b", "e\u0301", "👍🏽", "\r\n", "\ud800", "x\udc00"]) {
      assert.equal(cpLength(s), Array.from(s).length, JSON.stringify(s));
    }
  });

  test("cpSlice slices like Python", () => {
    assert.equal(cpSlice("a😀b👍🏽", 1, 3), "😀b");
    assert.equal(cpSlice("a😀b", 2), "b");
    assert.equal(cpSlice("abc", 1, 2), "b");
    assert.equal(cpSlice("a😀", 5), "");
  });

  test("advance walks code points and reports running out", () => {
    assert.equal(advance("😀a", 0, 1), 2);
    assert.equal(advance("😀a", 2, 1), 3);
    assert.equal(advance("😀a", 0, 3), -1);
  });

  test("isValidText", () => {
    const cases = { "a😀": true, "\ud83d": false, "\ude00a": false, "a\ud83d\ud83d": false, "😀\ude00": false, "a\0": false };
    for (const [s, valid] of Object.entries(cases)) assert.equal(isValidText(s), valid, JSON.stringify(s));
    // The same without String.prototype.isWellFormed (browsers before 2023).
    const isWellFormed = Object.getOwnPropertyDescriptor(String.prototype, "isWellFormed");
    // @ts-ignore
    delete String.prototype.isWellFormed;
    try {
      for (const [s, valid] of Object.entries(cases)) assert.equal(isValidText(s), valid, JSON.stringify(s));
    } finally {
      if (isWellFormed) Object.defineProperty(String.prototype, "isWellFormed", isWellFormed);
    }
  });
});

describe("offset conversion", () => {
  const s = "a😀b👍🏽c";
  test("UTF-16 to code points and back", () => {
    // units:        a=0 😀=1,2 b=3 👍=4,5 🏽=6,7 c=8 end=9
    // code points:  a=0 😀=1   b=2 👍=3   🏽=4   c=5 end=6
    assert.deepEqual([0, 1, 3, 4, 6, 8, 9].map((u) => utf16ToCodePoint(s, u)), [0, 1, 2, 3, 4, 5, 6]);
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((c) => codePointToUtf16(s, c)), [0, 1, 3, 4, 6, 8, 9]);
  });

  test("an offset inside a pair rounds down; out of range clamps", () => {
    assert.equal(utf16ToCodePoint(s, 2), 1);
    assert.equal(utf16ToCodePoint(s, 99), 6);
    assert.equal(utf16ToCodePoint(s, -1), 0);
    assert.equal(codePointToUtf16(s, 99), 9);
    assert.equal(codePointToUtf16("abc", 7), 3);
  });

  test("selections", () => {
    assert.deepEqual(selectionToCodePoints(s, [[3, 1], [9, 9]]), [[2, 1], [6, 6]]);
    assert.deepEqual(selectionToUtf16(s, [[2, 1], [6, 6]]), [[3, 1], [9, 9]]);
  });
});

describe("operations from textarea changes", () => {
  test("typing after an emoji", () => {
    const o = operationFromChange("😀", "😀a", 3);
    assert.deepEqual(o.toJSON(), [1, "a"]);
  });

  test("replacing one emoji with another that shares its high surrogate", () => {
    // "😀" is D83D DE00 and "😁" is D83D DE01: the common prefix is half a pair.
    const o = operationFromChange("x😀y", "x😁y");
    assert.deepEqual(o.toJSON(), [1, "😁", -1, 1]);
    assert.equal(o.apply("x😀y"), "x😁y");
  });

  test("a shared low surrogate is not split either", () => {
    // U+1F400 is D83D DC00 and U+10400 is D801 DC00: the common suffix is half a pair.
    const o = operationFromChange("a\u{1F400}", "a\u{10400}");
    assert.deepEqual(o.toJSON(), [1, "\u{10400}", -1]);
  });

  test("the cursor decides where a repeated character went", () => {
    assert.deepEqual(operationFromChange("aa", "aaa", 2).toJSON(), [1, "a", 1]);
    assert.deepEqual(operationFromChange("aa", "aaa", 1).toJSON(), ["a", 2]);
    assert.deepEqual(operationFromChange("aa", "aaa").toJSON(), [2, "a"]);
    assert.deepEqual(operationFromChange("aaa", "aa", 1).toJSON(), [1, -1, 1]);
  });

  test("changedRange reports UTF-16 offsets", () => {
    assert.deepEqual(changedRange("hello world", "hello there world"), { from: 6, to: 6, text: "there " });
  });

  test("operationFromReplace widens a range that splits a pair", () => {
    assert.deepEqual(operationFromReplace("a😀b", 2, 3, "").toJSON(), [1, -1, 1]);
    assert.deepEqual(operationFromReplace("a😀b", 1, 2, "x").toJSON(), [1, "x", -1, 1]);
    assert.deepEqual(operationFromReplace("a😀b", 2, 2, "x").toJSON(), [1, "x", 2]);
    assert.deepEqual(operationFromReplace("a😀b", 0, 4, "").toJSON(), [-3]);
  });

  test("random edits: the built operation turns old into new", () => {
    for (let seed = 1; seed <= 500; seed++) {
      const rng = new Random(seed);
      const old = randomText(rng, 10);
      const { result } = randomOperation(rng, old);
      const cursor = rng.chance(0.5) ? rng.int(result.length + 1) : undefined;
      const o = operationFromChange(old, result, cursor);
      assert.equal(o.apply(old), result, `seed ${seed}`);
    }
  });

  test("transformUtf16Selection keeps a caret after an emoji when text is inserted before it", () => {
    const old = "😀|";
    const o = operationFromReplace(old, 0, 0, "👍🏽");
    const next = o.apply(old);
    assert.deepEqual(transformUtf16Selection(old, next, o, [[2, 2]]), [[6, 6]]);
    assert.equal(transformIndex(1, o), 3);
  });
});
