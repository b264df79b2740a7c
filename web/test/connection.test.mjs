import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { Connection, ConnectionStatus, loadClientId } from "../lib/connection.js";
import { TextOperation } from "../lib/text-operation.js";
import { FakeTimers } from "../test-support/fake-timers.js";
import { makeFakeWebSocket } from "../test-support/fake-websocket.js";

class MemoryStorage {
  constructor() {
    /** @type {Map<string, string>} */
    this.items = new Map();
  }
  /** @param {string} key */
  getItem(key) {
    return this.items.get(key) ?? null;
  }
  /**
   * @param {string} key
   * @param {string} value
   */
  setItem(key, value) {
    this.items.set(key, value);
  }
}

/**
 * A Connection on fake sockets and a fake clock, recording its events.
 * @param {Partial<import("../lib/connection.js").ConnectionOptions>} [options]
 */
function setup(options = {}) {
  const WS = makeFakeWebSocket();
  const timers = new FakeTimers();
  const storage = new MemoryStorage();
  const conn = new Connection({
    url: "ws://example.test/ws/notes",
    WebSocket: /** @type {any} */ (WS),
    timers,
    storage,
    random: () => 0.5,
    user: { name: "Ada", color: "#e91e63" },
    clientId: "me",
    ...options,
  });
  /** @type {[string, any][]} */
  const events = [];
  for (const type of ["reset", "change", "presence", "join", "leave", "status", "error"]) {
    conn.on(type, (detail) => events.push([type, detail]));
  }
  /** @param {string} type */
  const eventsOf = (type) => events.filter(([t]) => t === type).map(([, d]) => d);
  return { conn, WS, timers, storage, events, eventsOf };
}

/**
 * Connect and answer the hello with a welcome carrying `text`.
 * @param {ReturnType<typeof setup>} env
 * @param {{text?: string, rev?: number, seq?: number, role?: string, peers?: any[]}} [welcome]
 */
function start(env, { text = "", rev = 0, seq = 0, role = "edit", peers = [] } = {}) {
  env.conn.connect();
  const socket = env.WS.last;
  socket.open();
  const [hello] = socket.take();
  socket.receive({ type: "welcome", doc: "notes", rev, role, text, seq, peers });
  return { socket, hello };
}

const op = (/** @type {any[]} */ json) => TextOperation.fromJSON(json);

describe("opening", () => {
  test("hello carries the protocol, client id, token and user, and no rev the first time", () => {
    const env = setup({ token: () => "jwt-1" });
    const { hello } = start(env);
    assert.deepEqual(hello, {
      type: "hello",
      protocol: 1,
      client: "me",
      token: "jwt-1",
      user: { name: "Ada", color: "#e91e63" },
    });
    assert.equal(env.WS.last.url, "ws://example.test/ws/notes");
  });

  test("the welcome loads the document", () => {
    const env = setup();
    start(env, { text: "héllo 😀", rev: 4 });
    assert.equal(env.conn.text, "héllo 😀");
    assert.equal(env.conn.rev, 4);
    assert.equal(env.conn.role, "edit");
    assert.equal(env.conn.doc, "notes");
    assert.equal(env.conn.status, ConnectionStatus.CONNECTED);
    assert.deepEqual(env.eventsOf("reset"), [{ text: "héllo 😀", rev: 4 }]);
    assert.deepEqual(
      env.eventsOf("status").map((s) => s.status),
      [ConnectionStatus.CONNECTING, ConnectionStatus.CONNECTED],
    );
  });

  test("the client id is random, valid and kept per tab in storage", () => {
    const storage = new MemoryStorage();
    const id = loadClientId(storage);
    assert.match(id, /^[A-Za-z0-9_-]{1,64}$/);
    assert.equal(loadClientId(storage), id);
    assert.notEqual(loadClientId(new MemoryStorage()), id);
    const broken = {
      getItem() {
        throw new Error("SecurityError");
      },
      setItem() {},
    };
    assert.match(loadClientId(broken), /^[A-Za-z0-9_-]{22}$/);
    const env = setup({ clientId: undefined, storage });
    assert.equal(env.conn.clientId, id);
  });

  test("no welcome in time: the connection retries", () => {
    const env = setup();
    env.conn.connect();
    env.WS.last.open();
    env.timers.advance(10_000);
    assert.ok(env.WS.last.closedByClient);
    assert.equal(env.conn.status, ConnectionStatus.OFFLINE);
    env.timers.advance(250);
    assert.equal(env.WS.instances.length, 2);
  });

  test("editing before the document is loaded, or with the view role, throws", () => {
    const env = setup();
    assert.throws(() => env.conn.edit(["a"]), /no document/);
    start(env, { text: "x", role: "view" });
    assert.throws(() => env.conn.edit([1, "a"]), /read-only/);
  });
});

describe("editing", () => {
  test("one operation in flight; the buffer goes after the ack", () => {
    const env = setup();
    const { socket } = start(env, { text: "ab", rev: 2, seq: 3 });
    env.conn.edit([2, "c"]);
    assert.deepEqual(socket.take(), [{ type: "op", rev: 2, seq: 4, op: [2, "c"] }]);
    env.conn.edit(op([3, "d"]));
    env.conn.edit(op([4, "e"]));
    assert.deepEqual(socket.take(), []);
    assert.equal(env.conn.unsent, 3);
    assert.equal(env.conn.text, "abcde");
    socket.receive({ type: "ack", seq: 4, rev: 3 });
    assert.deepEqual(socket.take(), [{ type: "op", rev: 3, seq: 5, op: [3, "de"] }]);
    assert.equal(env.conn.unsent, 2);
    socket.receive({ type: "ack", seq: 5, rev: 4 });
    assert.equal(env.conn.unsent, 0);
    assert.equal(env.conn.rev, 4);
    assert.deepEqual(env.eventsOf("status").map((s) => s.unsent), [0, 0, 1, 2, 3, 2, 0]);
  });

  test("an edit that does not fit the document throws and changes nothing", () => {
    const env = setup();
    const { socket } = start(env, { text: "ab" });
    assert.throws(() => env.conn.edit([5, "x"]), /length/);
    assert.equal(env.conn.text, "ab");
    assert.deepEqual(socket.take(), []);
  });

  test("a remote operation is transformed against pending work and reported", () => {
    const env = setup();
    const { socket } = start(env, { text: "abc", rev: 1 });
    env.conn.edit([3, "!"]);
    socket.receive({ type: "op", rev: 2, op: ["X", 3], client: "bo", seq: 1, user: { name: "Bo" } });
    assert.equal(env.conn.text, "Xabc!");
    const [change] = env.eventsOf("change");
    assert.deepEqual(change.op.toJSON(), ["X", 4]);
    assert.equal(change.client, "bo");
    assert.deepEqual(change.user, { name: "Bo" });
    socket.take();
    socket.receive({ type: "ack", seq: 1, rev: 3 });
    assert.equal(env.conn.rev, 3);
    assert.equal(env.conn.unsent, 0);
  });

  test("our own operation arriving as a broadcast counts as its ack; the late ack is ignored", () => {
    // With several server processes, a commit made through our previous
    // connection can reach us as an op with our own client id.
    const env = setup();
    const { socket } = start(env, { text: "" });
    env.conn.edit(["a"]);
    socket.take();
    socket.receive({ type: "op", rev: 1, op: ["a"], client: "me", seq: 1 });
    assert.equal(env.conn.text, "a");
    assert.equal(env.conn.unsent, 0);
    assert.equal(env.conn.rev, 1);
    socket.receive({ type: "ack", seq: 1, rev: 1 });
    assert.equal(socket.closedByClient, null);
    assert.deepEqual(env.eventsOf("change"), []);
  });

  test("a change listener may edit", () => {
    const env = setup();
    const { socket } = start(env, { text: "" });
    env.conn.on("change", () => {
      if (env.conn.text === "a") env.conn.edit([1, "b"]);
    });
    socket.receive({ type: "op", rev: 1, op: ["a"], client: "bo", seq: 1 });
    assert.equal(env.conn.text, "ab");
    assert.deepEqual(socket.take(), [{ type: "op", rev: 1, seq: 1, op: [1, "b"] }]);
  });

  test("a throwing listener does not break the session", () => {
    /** @type {unknown[]} */
    const reported = [];
    const env = setup({ reportError: (e) => reported.push(e) });
    const { socket } = start(env, { text: "" });
    env.conn.on("change", () => {
      throw new Error("listener bug");
    });
    socket.receive({ type: "op", rev: 1, op: ["a"], client: "bo", seq: 1 });
    socket.receive({ type: "op", rev: 2, op: [1, "b"], client: "bo", seq: 2 });
    assert.deepEqual(reported.map((e) => /** @type {Error} */ (e).message), ["listener bug", "listener bug"]);
    assert.equal(env.conn.text, "ab");
    assert.equal(env.eventsOf("change").length, 2);
  });
});

describe("presence", () => {
  test("local selections are throttled to the latest per 50 ms and mapped to the server revision", () => {
    const env = setup();
    const { socket } = start(env, { text: "abc", rev: 5 });
    env.conn.edit(["😀", 3]); // pending: the server does not have the emoji yet
    socket.take();
    env.conn.setSelection([[1, 1]]);
    env.timers.advance(20);
    env.conn.setSelection([[2, 4]]);
    env.conn.setSelection([[4, 4]]);
    assert.deepEqual(socket.take(), []);
    env.timers.advance(30);
    assert.deepEqual(socket.take(), [{ type: "presence", rev: 5, selection: [[3, 3]] }]);
    env.timers.advance(100);
    assert.deepEqual(socket.take(), []);
    env.conn.setSelection(null);
    env.timers.advance(50);
    assert.deepEqual(socket.take(), [{ type: "presence", rev: 5, selection: null }]);
    assert.throws(() => env.conn.setSelection(/** @type {any} */ ([[1]])), TypeError);
  });

  test("peers: join, presence mapped to the local document and moved by later edits, leave", () => {
    const env = setup();
    const { socket } = start(env, { text: "abcd", rev: 1 });
    socket.receive({ type: "join", client: "bo", user: { name: "Bo" } });
    env.conn.edit(["__", 4]); // local "__abcd", not acknowledged
    socket.receive({ type: "presence", client: "bo", user: { name: "Bo" }, rev: 1, selection: [[2, 2]] });
    assert.deepEqual(env.conn.peers, [{ client: "bo", user: { name: "Bo" }, selection: [[4, 4]] }]);
    // Bo types "xy" at his caret: his caret goes after it.
    socket.receive({ type: "op", rev: 2, op: [2, "xy", 2], client: "bo", seq: 1 });
    assert.equal(env.conn.text, "__abxycd");
    assert.deepEqual(env.conn.peers[0].selection, [[6, 6]]);
    env.conn.edit(["?", 8]);
    assert.deepEqual(env.conn.peers[0].selection, [[7, 7]]);
    socket.receive({ type: "leave", client: "bo" });
    assert.deepEqual(env.conn.peers, []);
    assert.deepEqual(
      env.events.filter(([t]) => ["join", "presence", "leave"].includes(t)).map(([t]) => t),
      ["join", "presence", "leave"],
    );
  });

  test("a presence at an older revision is moved through the operations since", () => {
    const env = setup();
    const { socket } = start(env, { text: "abcd", rev: 1 });
    socket.receive({ type: "op", rev: 2, op: ["12", 4], client: "cy", seq: 1 });
    socket.receive({ type: "presence", client: "bo", user: {}, rev: 1, selection: [[1, 3]] });
    assert.deepEqual(env.eventsOf("presence")[0].selection, [[3, 5]]);
    // Ahead of us: dropped.
    socket.receive({ type: "presence", client: "bo", user: {}, rev: 9, selection: [[0, 0]] });
    assert.equal(env.eventsOf("presence").length, 1);
  });

  test("peers in the welcome", () => {
    const env = setup();
    start(env, {
      text: "hello",
      rev: 3,
      peers: [
        { client: "bo", user: { name: "Bo" }, rev: 3, selection: [[5, 5]] },
        { client: "cy", user: {}, rev: 3, selection: null },
        { client: "me", user: {}, rev: 3, selection: null },
      ],
    });
    assert.deepEqual(
      env.conn.peers.map((p) => [p.client, p.selection]),
      [
        ["bo", [[5, 5]]],
        ["cy", null],
      ],
    );
  });
});

describe("keep-alive", () => {
  test("pings, and a silent server is given up on", () => {
    const env = setup();
    const { socket } = start(env, { text: "" });
    env.timers.advance(15_000);
    assert.deepEqual(socket.take(), [{ type: "ping" }]);
    socket.receive({ type: "pong" });
    env.timers.advance(15_000);
    assert.deepEqual(socket.take(), [{ type: "ping" }]);
    env.timers.advance(9_999);
    assert.equal(socket.closedByClient, null);
    env.timers.advance(1);
    assert.ok(socket.closedByClient);
    assert.equal(env.conn.status, ConnectionStatus.OFFLINE);
  });

  test("a ping from the server is answered", () => {
    const env = setup();
    const { socket } = start(env, { text: "" });
    socket.receive({ type: "ping" });
    assert.deepEqual(socket.take(), [{ type: "pong" }]);
  });
});

describe("reconnecting", () => {
  test("exponential backoff with full jitter, capped, reset by a welcome", () => {
    const env = setup({ random: () => 0.999 });
    env.conn.connect();
    /** @type {number[]} */
    const delays = [];
    for (let i = 0; i < 7; i++) {
      env.WS.last.serverClose(1006);
      delays.push(env.timers.delays()[0]);
      env.timers.advance(delays[delays.length - 1]);
    }
    assert.deepEqual(delays, [499, 999, 1998, 3996, 7992, 9990, 9990]);
    env.WS.last.open();
    env.WS.last.receive({ type: "welcome", doc: "notes", rev: 0, role: "edit", text: "", seq: 0, peers: [] });
    env.WS.last.serverClose(1001);
    assert.deepEqual(env.timers.delays().slice(0, 1), [499]);
  });

  test("the jitter spreads delays over the whole interval", () => {
    let r = 0;
    const env = setup({ random: () => r });
    env.conn.connect();
    env.WS.last.serverClose(1006);
    assert.equal(env.timers.delays()[0], 0);
    env.timers.advance(0);
    r = 0.25;
    env.WS.last.serverClose(1006);
    assert.equal(env.timers.delays()[0], 250);
  });

  test("catch-up: our own op is the ack, the rest is applied, the buffer is sent", () => {
    const env = setup();
    const { socket } = start(env, { text: "ab", rev: 2, seq: 0 });
    env.conn.edit([2, "c"]); // seq 1, in flight when the socket dies
    env.conn.edit([3, "d"]); // buffer
    socket.serverClose(1006);
    assert.equal(env.conn.status, ConnectionStatus.OFFLINE);
    env.timers.advance(250);
    const next = env.WS.last;
    assert.notEqual(next, socket);
    next.open();
    assert.deepEqual(next.take(), [
      { type: "hello", protocol: 1, client: "me", token: null, user: { name: "Ada", color: "#e91e63" }, rev: 2 },
    ]);
    next.receive({
      type: "welcome",
      doc: "notes",
      rev: 4,
      role: "edit",
      seq: 1,
      peers: [],
      ops: [
        { rev: 3, op: [2, "c"], client: "me", seq: 1, user: {} },
        { rev: 4, op: ["Z", 3], client: "bo", seq: 7, user: {} },
      ],
    });
    assert.equal(env.conn.text, "Zabcd");
    assert.deepEqual(next.take(), [{ type: "op", rev: 4, seq: 2, op: [4, "d"] }]);
    assert.equal(env.conn.unsent, 1);
    assert.equal(env.conn.status, ConnectionStatus.CONNECTED);
  });

  test("offline edits are kept, counted, and sent on reconnect with the same seq", () => {
    const env = setup();
    const { socket } = start(env, { text: "", rev: 0 });
    socket.serverClose(1006);
    env.conn.edit(["a"]);
    env.conn.edit([1, "b"]);
    env.conn.edit([2, "c"]);
    assert.equal(env.conn.unsent, 3);
    assert.deepEqual(env.eventsOf("status").at(-1), { status: ConnectionStatus.OFFLINE, unsent: 3 });
    env.timers.advance(250);
    const next = env.WS.last;
    next.open();
    assert.equal(next.take()[0].rev, 0);
    next.receive({ type: "welcome", doc: "notes", rev: 1, role: "edit", seq: 0, peers: [], ops: [
      { rev: 1, op: ["x"], client: "bo", seq: 1, user: {} },
    ] });
    assert.equal(env.conn.text, "abcx");
    assert.deepEqual(next.take(), [{ type: "op", rev: 1, seq: 1, op: ["a", 1] }]);
    next.receive({ type: "ack", seq: 1, rev: 2 });
    assert.deepEqual(next.take(), [{ type: "op", rev: 2, seq: 2, op: [1, "bc", 1] }]);
  });

  test("a gap in the broadcast reconnects with the revision held", () => {
    const env = setup();
    const { socket } = start(env, { text: "", rev: 3 });
    socket.receive({ type: "op", rev: 5, op: ["?"], client: "bo", seq: 1 });
    assert.ok(socket.closedByClient);
    assert.equal(env.conn.text, "");
    env.timers.advance(250);
    env.WS.last.open();
    assert.equal(env.WS.last.take()[0].rev, 3);
  });

  test("a welcome with text on reconnect rebases local work instead of losing it", () => {
    const env = setup();
    const { socket } = start(env, { text: "hello", rev: 2 });
    socket.serverClose(1006);
    env.conn.edit([5, "!"]);
    env.timers.advance(250);
    env.WS.last.open();
    env.WS.last.take();
    env.WS.last.receive({ type: "welcome", doc: "notes", rev: 50, role: "edit", seq: 0, peers: [], text: "Oh, hello" });
    assert.equal(env.conn.text, "Oh, hello!");
    assert.deepEqual(env.WS.last.take(), [{ type: "op", rev: 50, seq: 1, op: [9, "!"] }]);
  });

  test("close() stops; connect() resumes with the revision held", () => {
    const env = setup();
    const { socket } = start(env, { text: "", rev: 7 });
    env.conn.close();
    assert.deepEqual(socket.closedByClient, { code: 1000, reason: "closed by client" });
    assert.equal(env.timers.pending, 0);
    env.conn.connect();
    env.WS.last.open();
    assert.equal(env.WS.last.take()[0].rev, 7);
  });

  test("reconnectNow skips the wait", () => {
    const env = setup();
    const { socket } = start(env, { text: "" });
    socket.serverClose(1006);
    env.conn.reconnectNow();
    assert.equal(env.WS.instances.length, 2);
    assert.equal(env.conn.status, ConnectionStatus.CONNECTING);
  });

  for (const code of [4401, 4403, 4409, 4410]) {
    test(`close ${code} stops for good and says why`, () => {
      const env = setup();
      const { socket } = start(env, { text: "" });
      socket.serverClose(code);
      env.timers.runAll();
      assert.equal(env.WS.instances.length, 1);
      assert.equal(env.conn.status, ConnectionStatus.OFFLINE);
      const [error] = env.eventsOf("error");
      assert.equal(error.fatal, true);
      assert.equal(error.closeCode, code);
    });
  }
});

describe("errors", () => {
  test("rate_limited: the same seq is resent later", () => {
    const env = setup();
    const { socket } = start(env, { text: "" });
    env.conn.edit(["a"]);
    socket.take();
    socket.receive({ type: "error", code: "rate_limited", message: "slow down", seq: 1 });
    env.timers.advance(1499);
    assert.deepEqual(socket.takeType("op"), []);
    env.timers.advance(1);
    assert.deepEqual(socket.takeType("op"), [{ type: "op", rev: 0, seq: 1, op: ["a"] }]);
    assert.equal(env.eventsOf("error")[0].code, "rate_limited");
  });

  test("a refused operation: local work is dropped and the document reloaded", () => {
    const env = setup();
    const { socket } = start(env, { text: "abc", rev: 1 });
    env.conn.edit([3, "!"]);
    env.conn.edit([4, "?"]);
    socket.receive({ type: "error", code: "too_large", message: "document too large", seq: 1 });
    const [error] = env.eventsOf("error");
    assert.deepEqual(error, { code: "too_large", message: "document too large", fatal: false, discarded: 2 });
    env.timers.advance(250);
    const next = env.WS.last;
    next.open();
    assert.equal(next.take()[0].rev, undefined);
    next.receive({ type: "welcome", doc: "notes", rev: 2, role: "edit", seq: 0, peers: [], text: "abcd" });
    assert.equal(env.conn.text, "abcd");
    assert.equal(env.conn.unsent, 0);
    assert.equal(env.eventsOf("reset").length, 2);
  });

  test("bad_rev for our operation: reload the text and rebase the local work", () => {
    const env = setup();
    const { socket } = start(env, { text: "abc", rev: 1 });
    env.conn.edit([3, "!"]);
    socket.take();
    socket.receive({ type: "error", code: "bad_rev", message: "too old", seq: 1 });
    assert.ok(socket.closedByClient);
    env.timers.advance(250);
    const next = env.WS.last;
    next.open();
    assert.equal(next.take()[0].rev, undefined);
    next.receive({ type: "welcome", doc: "notes", rev: 9, role: "edit", seq: 0, peers: [], text: "abcd" });
    // Both inserted at 3: ours is transformed as `a`, so it stays first.
    assert.equal(env.conn.text, "abc!d");
    assert.deepEqual(next.take(), [{ type: "op", rev: 9, seq: 1, op: [3, "!", 1] }]);
  });

  test("an error about something else is reported and changes nothing", () => {
    const env = setup();
    const { socket } = start(env, { text: "" });
    socket.receive({ type: "error", code: "bad_rev", message: "presence rev" });
    assert.deepEqual(env.eventsOf("error"), [{ code: "bad_rev", message: "presence rev", seq: null, fatal: false }]);
    assert.equal(socket.closedByClient, null);
  });

  test("garbage from the server is reported, unknown types ignored; an unusable op makes it reload the text", () => {
    const env = setup();
    const { socket } = start(env, { text: "a", rev: 1 });
    socket.receive("not json");
    socket.receive({ type: "presence", client: 5 });
    socket.receive({ type: "brand_new_thing" });
    assert.equal(socket.closedByClient, null);
    socket.receive({ type: "op", rev: 2, op: [0], client: "bo", seq: 1 });
    assert.ok(socket.closedByClient);
    assert.deepEqual(
      env.eventsOf("error").map((e) => e.code),
      ["bad_message", "bad_message", "bad_message"],
    );
    env.timers.advance(250);
    env.WS.last.open();
    assert.equal(env.WS.last.take()[0].rev, undefined);
  });

  test("close 1009: the operation was too large; local work is dropped", () => {
    const env = setup();
    const { socket } = start(env, { text: "" });
    env.conn.edit(["x".repeat(100)]);
    socket.serverClose(1009);
    assert.equal(env.eventsOf("error")[0].discarded, 1);
    env.timers.advance(250);
    env.WS.last.open();
    assert.equal(env.WS.last.take()[0].rev, undefined);
  });
});
