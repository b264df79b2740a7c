// Convergence of several Connections editing one document through an
// in-memory server, with deliveries, edits, disconnects and clock ticks in a
// seeded random order. After every step each client's document must be its
// pending work applied to the server's document at the client's revision; at
// the end, with everything delivered, every client must hold the server's text.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { pendingOperation } from "../lib/client.js";
import { Connection, ConnectionStatus } from "../lib/connection.js";
import { FakeServer, Network } from "../test-support/fake-server.js";
import { FakeTimers } from "../test-support/fake-timers.js";
import { randomOperation } from "../test-support/gen.js";
import { Random } from "../test-support/prng.js";

/**
 * @param {number} seed
 * @param {{clients?: number, steps?: number, disconnects?: boolean}} [options]
 */
function simulate(seed, { clients = 3, steps = 250, disconnects = true } = {}) {
  const rng = new Random(seed);
  const server = new FakeServer("start 😀\r\n");
  const network = new Network(server);
  const timers = new FakeTimers();
  /** @type {Connection[]} */
  const conns = [];
  for (let i = 0; i < clients; i++) {
    const conn = new Connection({
      url: "ws://sim/ws/sim",
      WebSocket: /** @type {any} */ (network.WebSocket),
      timers,
      random: rng.next,
      clientId: `c${i}`,
      storage: null,
      reportError: (e) => {
        throw e;
      },
    });
    conn.connect();
    conns.push(conn);
  }

  const invariant = () => {
    for (const conn of conns) {
      const state = /** @type {any} */ (conn)._state;
      if (state === null) continue;
      const serverText = server.texts[state.rev];
      assert.equal(/** @type {any} */ (conn)._serverText, serverText, `${conn.clientId} server text at ${state.rev}`);
      const pending = pendingOperation(state);
      assert.equal(conn.text, pending === null ? serverText : pending.apply(serverText), `${conn.clientId} text`);
    }
  };

  for (let step = 0; step < steps; step++) {
    const r = rng.next();
    const loaded = conns.filter((c) => c.text !== null);
    if (r < 0.3 && loaded.length > 0) {
      const conn = rng.pick(loaded);
      conn.edit(randomOperation(rng, /** @type {string} */ (conn.text)).op);
    } else if (r < 0.35 && loaded.length > 0) {
      const conn = rng.pick(loaded);
      const n = Array.from(/** @type {string} */ (conn.text)).length;
      conn.setSelection([[rng.int(n + 1), rng.int(n + 1)]]);
    } else if (r < 0.38 && disconnects && network.links.size > 0) {
      rng.pick([...network.links]).cut(1006);
    } else if (r < 0.39 && disconnects) {
      server.prune();
    } else if (r < 0.45) {
      timers.advance(rng.int(400));
    } else {
      const possible = network.steps();
      if (possible.length > 0) rng.pick(possible)();
    }
    invariant();
  }

  // Drain: deliver everything, let every reconnect happen, until quiet.
  for (let round = 0; round < 10_000; round++) {
    const possible = network.steps();
    if (possible.length > 0) {
      rng.pick(possible)();
      invariant();
      continue;
    }
    const settled = conns.every((c) => c.status === ConnectionStatus.CONNECTED && c.unsent === 0);
    if (settled) break;
    timers.advance(100);
  }
  for (const conn of conns) {
    assert.equal(conn.status, ConnectionStatus.CONNECTED, `${conn.clientId} connected`);
    assert.equal(conn.unsent, 0, `${conn.clientId} has unsent work`);
    assert.equal(conn.rev, server.rev, `${conn.clientId} at the server's revision`);
    assert.equal(conn.text, server.text, `${conn.clientId} converged`);
  }
  return server;
}

describe("convergence (seeded simulation)", () => {
  test("reliable links", () => {
    for (let seed = 1; seed <= 40; seed++) {
      try {
        simulate(seed, { disconnects: false });
      } catch (e) {
        if (e instanceof Error) e.message = `seed ${seed}: ${e.message}`;
        throw e;
      }
    }
  });

  test("links that break: offline edits, catch-up, resend, pruned history", () => {
    const total = { revisions: 0, duplicates: 0, catchUps: 0, ownInCatchUp: 0, textWelcomes: 0 };
    for (let seed = 1; seed <= 60; seed++) {
      try {
        const server = simulate(seed, { disconnects: true });
        total.revisions += server.rev;
        for (const [k, v] of Object.entries(server.stats)) total[/** @type {keyof typeof total} */ (k)] += v;
      } catch (e) {
        if (e instanceof Error) e.message = `seed ${seed}: ${e.message}`;
        throw e;
      }
    }
    // The runs must have gone down every path they are meant to test.
    assert.ok(total.revisions > 60 * 10, JSON.stringify(total));
    assert.ok(total.catchUps > 60 && total.ownInCatchUp > 5 && total.textWelcomes > 5, JSON.stringify(total));
    // Our own operation in a catch-up counts as its ack: nothing is resent that the server has.
    assert.equal(total.duplicates, 0, JSON.stringify(total));
  });

  test("every edit is committed exactly once", () => {
    // Typing one distinct character at a time: the final text holds each exactly once.
    const rng = new Random(7);
    const server = new FakeServer("");
    const network = new Network(server);
    const timers = new FakeTimers();
    const conns = ["a", "b"].map(
      (id) =>
        new Connection({ url: "ws://sim", WebSocket: /** @type {any} */ (network.WebSocket), timers, random: rng.next, clientId: id, storage: null }),
    );
    for (const c of conns) c.connect();
    let typed = 0;
    for (let step = 0; step < 2000; step++) {
      const r = rng.next();
      const loaded = conns.filter((c) => c.text !== null);
      if (r < 0.2 && loaded.length > 0 && typed < 300) {
        const conn = rng.pick(loaded);
        const n = Array.from(/** @type {string} */ (conn.text)).length;
        const at = rng.int(n + 1);
        conn.edit([at, String.fromCodePoint(0x4e00 + typed++), n - at].filter((c) => c !== 0));
      } else if (r < 0.25 && network.links.size > 0) {
        rng.pick([...network.links]).cut(1006);
      } else if (r < 0.35) {
        timers.advance(rng.int(1000));
      } else {
        const possible = network.steps();
        if (possible.length > 0) rng.pick(possible)();
      }
    }
    for (let round = 0; round < 10_000; round++) {
      const possible = network.steps();
      if (possible.length > 0) rng.pick(possible)();
      else if (conns.every((c) => c.status === ConnectionStatus.CONNECTED && c.unsent === 0)) break;
      else timers.advance(100);
    }
    const chars = Array.from(server.text).sort();
    assert.equal(chars.length, typed);
    assert.equal(new Set(chars).size, typed);
    for (const c of conns) assert.equal(c.text, server.text);
  });
});
