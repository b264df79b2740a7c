import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  ClientStateKind,
  applyClient,
  applyServer,
  baseIndex,
  load,
  pendingOperation,
  rebase,
  reconnect,
  selectionFromServer,
  selectionToServer,
  serverAck,
  synchronized,
  transformSelection,
  unsentEdits,
} from "../lib/client.js";
import { TextOperation } from "../lib/text-operation.js";

const op = (/** @type {any[]} */ json) => TextOperation.fromJSON(json);
/** @param {{effects: any[]}} step */
const types = (step) => step.effects.map((e) => e.type);
/** @param {any} effect */
const wire = (effect) => ({ ...effect, op: effect.op.toJSON() });

describe("local edits", () => {
  test("synchronized: the edit is sent with the next seq", () => {
    const step = applyClient(synchronized(4, 2), op([3, "a"]));
    assert.equal(step.state.kind, ClientStateKind.AWAITING_CONFIRM);
    assert.deepEqual(step.effects.map(wire), [{ type: "send", rev: 4, seq: 3, op: [3, "a"] }]);
    assert.equal(unsentEdits(step.state), 1);
  });

  test("awaiting: later edits are composed into the buffer, not sent", () => {
    let { state } = applyClient(synchronized(0), op(["a"]));
    let step = applyClient(state, op([1, "b"]));
    assert.equal(step.state.kind, ClientStateKind.AWAITING_WITH_BUFFER);
    assert.deepEqual(step.effects, []);
    step = applyClient(step.state, op([2, "c"]));
    assert.deepEqual(step.state.buffer?.toJSON(), [1, "bc"]);
    assert.equal(unsentEdits(step.state), 3);
    assert.deepEqual(pendingOperation(step.state)?.toJSON(), ["abc"]);
  });

  test("a no-op edit changes nothing", () => {
    const state = synchronized(1);
    assert.equal(applyClient(state, op([3])).state, state);
  });
});

describe("acknowledgements", () => {
  test("the ack synchronizes; with a buffer, the buffer is sent as the next seq", () => {
    let { state } = applyClient(synchronized(0), op(["a"]));
    state = applyClient(state, op([1, "b"])).state;
    const step = serverAck(state, 1, 1);
    assert.deepEqual(step.effects.map(wire), [
      { type: "committed", rev: 1, op: ["a"], own: true },
      { type: "send", rev: 1, seq: 2, op: [1, "b"] },
    ]);
    assert.equal(step.state.kind, ClientStateKind.AWAITING_CONFIRM);
    const done = serverAck(step.state, 2, 2);
    assert.equal(done.state.kind, ClientStateKind.SYNCHRONIZED);
    assert.equal(done.state.rev, 2);
    assert.equal(done.state.seq, 2);
    assert.equal(unsentEdits(done.state), 0);
  });

  test("a duplicate ack is ignored; an ack out of nowhere asks for a resync", () => {
    const { state } = applyClient(synchronized(0, 5), op(["a"]));
    assert.deepEqual(serverAck(state, 5, 1).effects, []);
    assert.deepEqual(types(serverAck(state, 7, 1)), ["resync"]);
    assert.deepEqual(types(serverAck(synchronized(3, 6), 7, 4)), ["resync"]);
    assert.deepEqual(serverAck(synchronized(3, 6), 6, 3).effects, []);
  });

  test("an ack at the wrong revision asks for a resync", () => {
    const { state } = applyClient(synchronized(0), op(["a"]));
    assert.deepEqual(types(serverAck(state, 1, 3)), ["resync"]);
  });
});

describe("remote operations", () => {
  test("synchronized: applied as they are", () => {
    const step = applyServer(synchronized(0), { rev: 1, op: ["x"], client: "other", user: { name: "Bo" } });
    assert.deepEqual(step.effects.map(wire), [
      { type: "committed", rev: 1, op: ["x"], own: false },
      { type: "apply", op: ["x"], client: "other", user: { name: "Bo" } },
    ]);
    assert.equal(step.state.rev, 1);
  });

  test("awaiting with buffer: both sides converge (the diamond)", () => {
    // Server and client start from "abc".
    const base = "abc";
    let { state } = applyClient(synchronized(0), op([3, "1"])); // local "abc1"
    state = applyClient(state, op(["2", 4])).state; // local "2abc1"
    let local = "2abc1";
    const remote = op(["X", 1, -1, 1]); // server "Xac"
    const step = applyServer(state, { rev: 1, op: remote });
    const applied = step.effects.find((e) => e.type === "apply").op;
    local = applied.apply(local);
    // The server then applies our outstanding and buffer as transformed.
    let server = remote.apply(base);
    server = /** @type {TextOperation} */ (step.state.outstanding).apply(server);
    server = /** @type {TextOperation} */ (step.state.buffer).apply(server);
    assert.equal(local, server);
    assert.equal(local, "2Xac1");
  });

  test("a gap asks for a resync; an old revision is ignored", () => {
    assert.deepEqual(types(applyServer(synchronized(3), { rev: 5, op: [1] })), ["resync"]);
    assert.deepEqual(applyServer(synchronized(3), { rev: 3, op: [1] }).effects, []);
  });

  test("the wire form of an operation is accepted", () => {
    const step = applyServer(synchronized(0), { rev: 1, op: ["a"] });
    assert.ok(step.effects[1].op instanceof TextOperation);
  });
});

describe("reconnect", () => {
  test("our own op in the catch-up is the ack; the buffer is sent after the catch-up", () => {
    let { state } = applyClient(synchronized(2, 4), op([1, "a"])); // seq 5, base "x"
    state = applyClient(state, op([2, "b"])).state; // buffer
    const step = reconnect(
      state,
      {
        rev: 4,
        seq: 5,
        ops: [
          { rev: 3, op: ["Z", 1], client: "other", seq: 1 },
          { rev: 4, op: [2, "a"], client: "me", seq: 5 },
        ],
      },
      "me",
    );
    assert.deepEqual(types(step), ["committed", "apply", "committed", "send"]);
    assert.deepEqual(wire(step.effects[3]), { type: "send", rev: 4, seq: 6, op: [3, "b"] });
    assert.equal(step.state.kind, ClientStateKind.AWAITING_CONFIRM);
    assert.equal(unsentEdits(step.state), 1);
  });

  test("an unacknowledged op is resent with the same seq at the new revision, transformed", () => {
    const { state } = applyClient(synchronized(0, 1), op(["a", 2])); // seq 2 on "xy"
    const step = reconnect(state, { rev: 1, seq: 1, ops: [{ rev: 1, op: ["Q", 2], client: "o", seq: 3 }] }, "me");
    assert.deepEqual(types(step), ["committed", "apply", "send"]);
    assert.deepEqual(wire(step.effects[2]), { type: "send", rev: 1, seq: 2, op: ["a", 3] });
  });

  test("another op of ours with another seq is a remote edit, not an ack", () => {
    const { state } = applyClient(synchronized(0, 1), op(["a"]));
    const step = reconnect(state, { rev: 1, seq: 1, ops: [{ rev: 1, op: ["b"], client: "me", seq: 1 }] }, "me");
    assert.deepEqual(types(step), ["committed", "apply", "send"]);
    assert.equal(step.effects[2].seq, 2);
  });

  test("no catch-up: just resend", () => {
    const { state } = applyClient(synchronized(7, 0), op(["a"]));
    const step = reconnect(state, { rev: 7, seq: 0, ops: [] }, "me");
    assert.deepEqual(step.effects.map(wire), [{ type: "send", rev: 7, seq: 1, op: ["a"] }]);
  });

  test("a seq the server already has for our id (a duplicated tab) gets renumbered", () => {
    const { state } = applyClient(synchronized(7, 0), op(["a"]));
    const step = reconnect(state, { rev: 7, seq: 3, ops: [] }, "me");
    assert.equal(step.effects[0].seq, 4);
    assert.equal(reconnect(synchronized(7, 1), { rev: 7, seq: 3, ops: [] }, "me").state.seq, 3);
  });

  test("a catch-up that does not fit asks for a resync", () => {
    assert.deepEqual(types(reconnect(synchronized(1), { rev: 3, ops: [{ rev: 3, op: [1] }] }, "me")), ["resync"]);
    assert.deepEqual(types(reconnect(synchronized(1), { rev: 3, ops: [] }, "me")), ["resync"]);
  });
});

describe("welcome with text", () => {
  test("load resets the document", () => {
    const step = load({ rev: 3, text: "hi", seq: 2 });
    assert.deepEqual(step.effects, [{ type: "reset", rev: 3, text: "hi" }]);
    assert.equal(step.state.seq, 2);
  });

  test("rebase: the remote changes come as a diff and pending work is resent", () => {
    // Server had "hello" at rev 2; we typed "!" (seq 1, not committed) and " you" (buffer).
    let { state } = applyClient(synchronized(2, 0), op([5, "!"]));
    state = applyClient(state, op([5, " you", 1])).state;
    let local = "hello you!";
    const step = rebase(state, { rev: 9, seq: 0, text: "Oh, hello" }, "hello");
    assert.deepEqual(types(step), ["server_text", "apply", "send"]);
    local = step.effects[1].op.apply(local);
    const send = step.effects[2];
    assert.equal(send.seq, 1);
    assert.equal(send.rev, 9);
    assert.equal(send.op.apply("Oh, hello"), local);
    assert.equal(local, "Oh, hello you!");
    assert.equal(unsentEdits(step.state), 2);
  });

  test("rebase: an outstanding op already in the text is not sent again", () => {
    let { state } = applyClient(synchronized(2, 0), op([5, "!"]));
    state = applyClient(state, op([6, "?"])).state;
    const step = rebase(state, { rev: 9, seq: 1, text: ">hello!" }, "hello");
    const local = step.effects[1].op.apply("hello!?");
    assert.equal(local, ">hello!?");
    const send = step.effects[2];
    assert.equal(send.seq, 2);
    assert.equal(send.op.apply(">hello!"), ">hello!?");
    assert.equal(unsentEdits(step.state), 1);
  });

  test("rebase with nothing pending and nothing changed", () => {
    const step = rebase(synchronized(2, 1), { rev: 9, seq: 1, text: "same" }, "same");
    assert.deepEqual(types(step), ["server_text"]);
    assert.equal(step.state.rev, 9);
  });
});

describe("selections", () => {
  test("a remote user's caret goes after the text they typed", () => {
    // Their caret was at 3; their op inserts "ab" at 3.
    assert.deepEqual(transformSelection([[3, 3]], op([3, "ab", 2])), [[5, 5]]);
    // A range around an insertion grows; a range inside a deletion collapses.
    assert.deepEqual(transformSelection([[1, 4], [2, 3]], op([2, "xy", -1, 2])), [[1, 5], [4, 4]]);
    assert.equal(transformSelection(null, op([1])), null);
  });

  test("baseIndex maps target positions back", () => {
    const o = op([1, "xyz", -2, 2]);
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((i) => baseIndex(i, o)), [0, 1, 1, 1, 1, 4, 5]);
  });

  test("a local selection goes back through buffer and outstanding; a remote one forward", () => {
    let { state } = applyClient(synchronized(0), op(["ab", 3])); // "ab" + "cde"
    state = applyClient(state, op([5, "!"])).state; // "abcde!"
    assert.deepEqual(selectionToServer(state, [[6, 6], [3, 4]]), [[3, 3], [1, 2]]);
    assert.deepEqual(selectionFromServer(state, [[3, 3], [0, 1]]), [[6, 6], [2, 3]]);
    assert.equal(selectionToServer(state, null), null);
  });
});
