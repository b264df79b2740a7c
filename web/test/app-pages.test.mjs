// Pure logic of the editor pages (web/app/): undo over remote edits, the
// history diff, the textarea's view of "\r", and what localStorage keeps.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { diffText, editScript } from "../app/diff.js";
import { DOC_ID, PALETTE, cleanName, colorFor, loadUser, recentDocs, rememberDoc, saveUser, textOn } from "../app/prefs.js";
import { TextView } from "../app/text-view.js";
import { UndoManager, simpleChange } from "../app/undo.js";
import { TextOperation, transform } from "../lib/text-operation.js";
import { randomOperation, randomText } from "../test-support/gen.js";
import { Random } from "../test-support/prng.js";

/** A document edited by "me" (with an UndoManager) and by others. */
class Doc {
  constructor(text = "", now = () => 0) {
    this.text = text;
    this.undo = new UndoManager({ now });
  }

  /** @param {TextOperation} op @param {string} [kind] */
  mine(op, kind) {
    const inverse = op.invert(this.text);
    this.text = op.apply(this.text);
    this.undo.record(op, inverse, kind);
  }

  /** @param {TextOperation} op */
  theirs(op) {
    this.text = op.apply(this.text);
    this.undo.transform(op);
  }

  /** @param {TextOperation} op @returns {string} */
  applyLocal = (op) => {
    const before = this.text;
    this.text = op.apply(before);
    return before;
  };
}

const ins = (/** @type {number} */ at, /** @type {string} */ s, /** @type {number} */ len) =>
  new TextOperation().retain(at).insert(s).retain(len - at);
const del = (/** @type {number} */ at, /** @type {number} */ n, /** @type {number} */ len) =>
  new TextOperation().retain(at).delete(n).retain(len - at - n);

describe("UndoManager", () => {
  test("undo removes only my edit, wherever others' edits moved it", () => {
    const d = new Doc("hello world");
    d.mine(ins(5, ",", 11), "insertFromPaste");
    d.theirs(ins(0, ">> ", 12));
    d.theirs(ins(15, "!", 15));
    assert.equal(d.text, ">> hello, world!");
    assert.ok(d.undo.undo(d.applyLocal));
    assert.equal(d.text, ">> hello world!");
    assert.ok(d.undo.redo(d.applyLocal));
    assert.equal(d.text, ">> hello, world!");
  });

  test("typing composes into one step within the window and while contiguous", () => {
    let now = 0;
    const d = new Doc("", () => now);
    for (const ch of "abc") {
      d.mine(ins(d.text.length, ch, d.text.length), "insertText");
      now += 300;
    }
    now += 2000; // a pause: a new step
    d.mine(ins(3, "d", 3), "insertText");
    assert.equal(d.undo.undoStack.length, 2);
    d.undo.undo(d.applyLocal);
    assert.equal(d.text, "abc");
    d.undo.undo(d.applyLocal);
    assert.equal(d.text, "");
    assert.equal(d.undo.canUndo, false);
  });

  test("typing elsewhere, pasting or deleting starts a new step", () => {
    const d = new Doc("xy");
    d.mine(ins(2, "a", 2), "insertText");
    d.mine(ins(0, "b", 3), "insertText"); // not where typing ended
    d.mine(ins(4, "c", 4), "insertFromPaste");
    d.mine(del(3, 1, 5), "deleteContentBackward");
    d.mine(del(2, 1, 4), "deleteContentBackward"); // backspace again: composes
    assert.equal(d.text, "bxc");
    assert.equal(d.undo.undoStack.length, 4);
  });

  test("remote edits between keystrokes keep typing in one step", () => {
    const d = new Doc("");
    d.mine(ins(0, "a", 0), "insertText");
    d.theirs(ins(0, "Z", 1));
    d.mine(ins(2, "b", 2), "insertText");
    assert.equal(d.undo.undoStack.length, 1);
    d.undo.undo(d.applyLocal);
    assert.equal(d.text, "Z");
  });

  test("an edit deleted by someone else leaves nothing to undo", () => {
    const d = new Doc("ab");
    d.mine(ins(1, "X", 2), "insertFromPaste");
    d.theirs(del(0, 3, 3));
    assert.equal(d.undo.canUndo, false);
  });

  test("a new edit clears redo", () => {
    const d = new Doc("");
    d.mine(ins(0, "a", 0), "insertText");
    d.undo.undo(d.applyLocal);
    assert.ok(d.undo.canRedo);
    d.mine(ins(0, "b", 0), "insertText");
    assert.equal(d.undo.canRedo, false);
  });

  test("simpleChange", () => {
    assert.deepEqual(simpleChange(TextOperation.fromJSON([2, "ab", 3])), { start: 2, inserted: 2, deleted: 0 });
    assert.deepEqual(simpleChange(TextOperation.fromJSON([-2, 3])), { start: 0, inserted: 0, deleted: 2 });
    assert.equal(simpleChange(TextOperation.fromJSON(["a", -1])), null);
    assert.equal(simpleChange(TextOperation.fromJSON(["a", 1, "b"])), null);
    assert.equal(simpleChange(TextOperation.fromJSON([4])), null);
  });
});

describe("UndoManager against a concurrent stream", () => {
  // Undoing all of my edits gives back exactly the others' text when my edits
  // only insert. (Not when they delete: text someone typed into a range I had
  // deleted comes back outside it, as in ot.js.)
  test("fuzz: my inserts interleaved with transformed remote edits; undo all restores theirs", () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rng = new Random(seed);
      const base = randomText(rng, 5);
      const d = new Doc(base);
      // mineOnBase: my edits composed, on theirsText (the document with only their edits).
      let mineOnBase = new TextOperation().retain(Array.from(base).length);
      let theirsText = base;
      for (let i = 0; i < 10; i++) {
        if (rng.chance(0.5)) {
          const at = rng.int(Array.from(d.text).length + 1);
          const op = ins(at, randomText(rng, 3) || "x", Array.from(d.text).length);
          d.mine(op, rng.pick(["insertText", "insertFromPaste"]));
          mineOnBase = mineOnBase.compose(op); // invariant: d.text == mineOnBase.apply(theirsText)
        } else {
          // A remote edit on the document as they see it (theirs only), transformed over mine.
          const { op } = randomOperation(rng, theirsText);
          const [, opPrime] = transform(mineOnBase, op);
          const [minePrime] = transform(mineOnBase, op);
          theirsText = op.apply(theirsText);
          d.theirs(opPrime);
          mineOnBase = minePrime;
        }
      }
      while (d.undo.undo(d.applyLocal));
      assert.equal(d.text, theirsText, `seed ${seed}`);
    }
  });
});

describe("diffText", () => {
  const join = (/** @type {[number, string][]} */ segs, /** @type {number} */ drop) =>
    segs.filter(([k]) => k !== drop).map(([, s]) => s).join("");

  test("marks insertions and deletions", () => {
    assert.deepEqual(diffText("hello world", "hello brave world"), [
      [0, "hello "],
      [1, "brave "],
      [0, "world"],
    ]);
    assert.deepEqual(diffText("xay", "xby"), [
      [0, "x"],
      [-1, "a"],
      [1, "b"],
      [0, "y"],
    ]);
    assert.deepEqual(diffText("abc", "abc"), [[0, "abc"]]);
    assert.deepEqual(diffText("", "x"), [[1, "x"]]);
    assert.deepEqual(diffText("one\ntwo\nthree\n", "one\nthree\n"), [
      [0, "one\n"],
      [-1, "two\n"],
      [0, "three\n"],
    ]);
  });

  test("unrelated text is one replacement, not confetti", () => {
    assert.deepEqual(diffText("first draft", "second"), [
      [-1, "first draft"],
      [1, "second"],
    ]);
    assert.deepEqual(diffText("the cat sat", "the dog sat"), [
      [0, "the "],
      [-1, "cat"],
      [1, "dog"],
      [0, " sat"],
    ]);
  });

  test("fuzz: segments rebuild both texts, never splitting a code point", () => {
    for (let seed = 1; seed <= 400; seed++) {
      const rng = new Random(seed);
      const a = randomText(rng, 30);
      const { result: b } = randomOperation(rng, a);
      const segs = diffText(a, b);
      assert.equal(join(segs, -1), b, `seed ${seed}`);
      assert.equal(join(segs, 1), a, `seed ${seed}`);
      for (const [, s] of segs) assert.ok(s.length > 0 && s.isWellFormed(), `seed ${seed}`);
    }
  });

  test("large, very different texts stay within budget", () => {
    const rng = new Random(7);
    const a = Array.from({ length: 3000 }, () => rng.pick(["x", "y", "\n"])).join("");
    const b = Array.from({ length: 3000 }, () => rng.pick(["y", "z", "\n"])).join("");
    const started = Date.now();
    const segs = diffText(a, b);
    assert.equal(join(segs, -1), b);
    assert.equal(join(segs, 1), a);
    assert.ok(Date.now() - started < 2000);
  });

  test("editScript is minimal on a small case", () => {
    const script = editScript(Array.from("abcabba"), Array.from("cbabac"), 20);
    assert.equal(script?.filter((s) => s !== 0).length, 5);
  });
});

describe("TextView", () => {
  test("without \\r it is the identity", () => {
    const v = new TextView("a😀b");
    assert.equal(v.display, "a😀b");
    assert.equal(v.toDoc(3), 3);
    assert.equal(v.toCodePoint(3), 2);
    assert.equal(v.fromCodePoint(2), 3);
  });

  test("maps around \\r\\n pairs and lone \\r", () => {
    const v = new TextView("a\r\nb\rc\r\n");
    assert.equal(v.display, "a\nb\nc\n");
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((p) => v.toDoc(p)), [0, 1, 3, 4, 5, 6, 8]);
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 8].map((q) => v.toDisplay(q)), [0, 1, 1, 2, 3, 4, 5, 5, 6]);
  });

  test("an edit in the textarea keeps the document's other \\r", () => {
    const v = new TextView("one\r\ntwo\r\n");
    // the user deletes the first line break: "one\ntwo\n" -> "onetwo\n"
    const op = v.operationTo("onetwo\n", 3);
    assert.equal(op.apply(v.doc), "onetwo\r\n");
    // and types at the end of the second line
    const op2 = v.operationTo("one\ntwo!\n", 8);
    assert.equal(op2.apply(v.doc), "one\r\ntwo!\r\n");
  });
});

describe("prefs", () => {
  const memory = () => {
    /** @type {Map<string, string>} */
    const m = new Map();
    return { getItem: (/** @type {string} */ k) => m.get(k) ?? null, setItem: (/** @type {string} */ k, /** @type {string} */ v) => void m.set(k, v) };
  };

  test("a user is generated once, then remembered", () => {
    const s = memory();
    const first = loadUser(s, () => 0.5);
    assert.equal(first.generated, true);
    assert.match(first.user.color, /^#[0-9a-f]{6}$/);
    const again = loadUser(s);
    assert.deepEqual(again, { user: first.user, generated: false });
    saveUser(s, { name: "  Ada  ", color: "#123abc" });
    assert.deepEqual(loadUser(s).user, { name: "Ada", color: "#123abc" });
  });

  test("names are cut to 64 code points; colours are stable per id", () => {
    assert.equal(Array.from(cleanName("😀".repeat(70))).length, 64);
    assert.equal(colorFor("abc"), colorFor("abc"));
  });

  test("label text is white where it meets AA, else the better of black and white", () => {
    assert.equal(textOn("#000000"), "#ffffff");
    assert.equal(textOn("#ffffff"), "#111111");
    assert.equal(textOn("#c0ca33"), "#111111"); // a light lime someone picked
    for (const c of PALETTE) assert.equal(textOn(c), "#ffffff", c); // the generated ones: white, AA
  });

  test("recent documents, newest first, without duplicates", () => {
    const s = memory();
    rememberDoc(s, "a", 1);
    rememberDoc(s, "b", 2);
    rememberDoc(s, "a", 3);
    assert.deepEqual(recentDocs(s), [{ id: "a", at: 3 }, { id: "b", at: 2 }]);
    assert.deepEqual(recentDocs(null), []);
    assert.ok(DOC_ID.test("notes-1.txt") && !DOC_ID.test("-x"));
  });
});
