// Validation of server messages (PROTOCOL §3), in one place before dispatch.
//
// parseServerMessage turns a text frame into a checked message object whose
// operations are already TextOperation values, or says what is wrong with it.
// Unknown message types are reported as such, so that a newer server can add
// types without breaking this client.

import { isValidText } from "./codepoints.js";
import { OperationError, TextOperation } from "./text-operation.js";

/**
 * @typedef {object} OpRecord
 * @property {number} rev
 * @property {TextOperation} op
 * @property {string|null} client
 * @property {number|null} seq
 * @property {object} user
 */

/**
 * @typedef {object} Peer
 * @property {string} client
 * @property {object} user
 * @property {number|null} rev
 * @property {[number, number][] | null} selection
 */

/**
 * @typedef {{type: "welcome", doc: string, rev: number, role: string, text?: string, ops?: OpRecord[], seq: number, peers: Peer[]}
 *   | {type: "ack", seq: number, rev: number}
 *   | ({type: "op"} & OpRecord)
 *   | {type: "presence", client: string, user: object, rev: number, selection: [number, number][] | null}
 *   | {type: "join", client: string, user: object}
 *   | {type: "leave", client: string}
 *   | {type: "error", code: string, message: string, seq: number|null}
 *   | {type: "ping"} | {type: "pong"}} ServerMessage
 */

/**
 * @typedef {{ok: true, message: ServerMessage}
 *   | {ok: false, type: string|null, unknown: boolean, error: string}} ParseResult
 *   type is the message's type when it has one; unknown is true for a type
 *   this client does not know (to be ignored, not reported)
 */

class Invalid extends Error {}

/** @param {unknown} x */
const isObject = (x) => typeof x === "object" && x !== null && !Array.isArray(x);
/** @param {unknown} x */
const isNat = (x) => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;

/**
 * @param {boolean} ok
 * @param {string} what
 */
function check(ok, what) {
  if (!ok) throw new Invalid(what);
}

/**
 * Whether x is a selection: null or a list of [anchor, head] pairs of
 * non-negative integers.
 * @param {unknown} x
 * @returns {x is [number, number][] | null}
 */
export function isSelection(x) {
  return (
    x === null ||
    (Array.isArray(x) && x.every((r) => Array.isArray(r) && r.length === 2 && isNat(r[0]) && isNat(r[1])))
  );
}

/**
 * @param {unknown} x
 * @returns {object}
 */
function user(x) {
  check(x === undefined || x === null || isObject(x), "user must be an object");
  return isObject(x) ? /** @type {object} */ (x) : {};
}

/**
 * @param {any} m
 * @returns {OpRecord}
 */
function record(m) {
  check(isObject(m), "an op record must be an object");
  check(isNat(m.rev) && m.rev >= 1, "rev must be a positive integer");
  check(m.client === undefined || m.client === null || typeof m.client === "string", "client must be a string");
  check(m.seq === undefined || m.seq === null || isNat(m.seq), "seq must be an integer");
  let op;
  try {
    op = TextOperation.fromJSON(m.op);
  } catch (e) {
    if (e instanceof OperationError) throw new Invalid(`bad operation: ${e.message}`);
    throw e;
  }
  return { rev: m.rev, op, client: m.client ?? null, seq: m.seq ?? null, user: user(m.user) };
}

/** @type {Record<string, (m: any) => ServerMessage>} */
const PARSERS = {
  welcome(m) {
    check(isNat(m.rev), "rev must be a non-negative integer");
    check(m.role === "edit" || m.role === "view", "role must be edit or view");
    check(typeof m.doc === "string", "doc must be a string");
    check(m.seq === undefined || isNat(m.seq), "seq must be a non-negative integer");
    const hasText = typeof m.text === "string";
    check(hasText || Array.isArray(m.ops), "a welcome needs text or ops");
    if (hasText) check(isValidText(m.text), "text has a lone surrogate or U+0000");
    check(m.peers === undefined || Array.isArray(m.peers), "peers must be a list");
    const peers = (m.peers ?? []).map((/** @type {any} */ p) => {
      check(isObject(p) && typeof p.client === "string", "a peer needs a client id");
      check(p.rev === undefined || p.rev === null || isNat(p.rev), "a peer's rev must be an integer");
      check(p.selection === undefined || isSelection(p.selection), "a peer's selection is malformed");
      return { client: p.client, user: user(p.user), rev: p.rev ?? null, selection: p.selection ?? null };
    });
    /** @type {ServerMessage} */
    const welcome = { type: "welcome", doc: m.doc, rev: m.rev, role: m.role, seq: m.seq ?? 0, peers };
    if (hasText) welcome.text = m.text;
    else welcome.ops = m.ops.map(record);
    return welcome;
  },
  ack(m) {
    check(isNat(m.seq) && m.seq >= 1, "seq must be a positive integer");
    check(isNat(m.rev) && m.rev >= 1, "rev must be a positive integer");
    return { type: "ack", seq: m.seq, rev: m.rev };
  },
  op(m) {
    return { type: "op", ...record(m) };
  },
  presence(m) {
    check(typeof m.client === "string", "client must be a string");
    check(isNat(m.rev), "rev must be a non-negative integer");
    check(isSelection(m.selection ?? null), "selection is malformed");
    return { type: "presence", client: m.client, user: user(m.user), rev: m.rev, selection: m.selection ?? null };
  },
  join(m) {
    check(typeof m.client === "string", "client must be a string");
    return { type: "join", client: m.client, user: user(m.user) };
  },
  leave(m) {
    check(typeof m.client === "string", "client must be a string");
    return { type: "leave", client: m.client };
  },
  error(m) {
    check(typeof m.code === "string", "code must be a string");
    check(m.seq === undefined || m.seq === null || isNat(m.seq), "seq must be an integer");
    const message = typeof m.message === "string" ? m.message : m.code;
    return { type: "error", code: m.code, message, seq: m.seq ?? null };
  },
  ping() {
    return { type: "ping" };
  },
  pong() {
    return { type: "pong" };
  },
};

/**
 * Parse and check one text frame from the server.
 * @param {unknown} data the frame's data
 * @returns {ParseResult}
 */
export function parseServerMessage(data) {
  if (typeof data !== "string") return { ok: false, type: null, unknown: false, error: "not a text frame" };
  let m;
  try {
    m = JSON.parse(data);
  } catch {
    return { ok: false, type: null, unknown: false, error: "not JSON" };
  }
  if (!isObject(m) || typeof m.type !== "string") {
    return { ok: false, type: null, unknown: false, error: "not an object with a type" };
  }
  const parse = Object.hasOwn(PARSERS, m.type) ? PARSERS[m.type] : undefined;
  if (parse === undefined) return { ok: false, type: m.type, unknown: true, error: `unknown message type ${m.type}` };
  try {
    return { ok: true, message: parse(m) };
  } catch (e) {
    if (e instanceof Invalid) return { ok: false, type: m.type, unknown: false, error: `${m.type}: ${e.message}` };
    throw e;
  }
}
