// The client side of the protocol as a sans-I/O state machine (PROTOCOL §3).
//
// Every transition is a pure function (state, input) -> {state, effects}: it
// never sends, never touches the document, never starts a timer. The caller
// (connection.js, or a test) carries out the effects in order:
//
//   {type: "send", rev, seq, op}         send {"type": "op", rev, seq, op}
//   {type: "apply", op, client?, user?}  apply op to the local document (a remote edit)
//   {type: "committed", rev, op, own}    the server document became revision rev by op
//   {type: "server_text", rev, text}     the server document is text at rev (history unknown)
//   {type: "reset", rev, text}           replace the local document with text
//   {type: "resync", reason}             the stream is inconsistent (a gap): reconnect with rev
//
// The states are those of ot.js's client. With one operation in flight,
// transforming a remote operation against it is the diamond
//
//              /\
//  outstanding/  \ remote
//            /    \
//            \    /
//      remote'\  /outstanding'
//              \/
//
// and with a buffer as well, the remote operation is transformed against the
// outstanding one, then the result against the buffer.

import { cpLength } from "./codepoints.js";
import { TextOperation, compose, transform, transformIndex } from "./text-operation.js";
import { operationFromChange } from "./utf16.js";

/** Lifecycle states of the client. */
export const ClientStateKind = Object.freeze({
  /** Nothing in flight: the local document is the server document at `rev`. */
  SYNCHRONIZED: "synchronized",
  /** `outstanding` (numbered `seq`, based on `rev`) is sent and not yet acknowledged. */
  AWAITING_CONFIRM: "awaiting_confirm",
  /** As AWAITING_CONFIRM, and local edits made since are composed into `buffer`. */
  AWAITING_WITH_BUFFER: "awaiting_with_buffer",
});

/**
 * @typedef {object} ClientState
 * @property {string} kind one of ClientStateKind
 * @property {number} rev the server revision the local document (less outstanding and buffer) is at
 * @property {number} seq the last seq used by this client id (the outstanding op's when awaiting)
 * @property {TextOperation|null} outstanding the operation in flight
 * @property {TextOperation|null} buffer local edits made while awaiting, not sent
 * @property {number} outstandingEdits local edits composed into outstanding
 * @property {number} bufferEdits local edits composed into buffer
 */

/**
 * @typedef {{type: "send", rev: number, seq: number, op: TextOperation}
 *   | {type: "apply", op: TextOperation, client?: string|null, user?: object}
 *   | {type: "committed", rev: number, op: TextOperation, own: boolean}
 *   | {type: "server_text", rev: number, text: string}
 *   | {type: "reset", rev: number, text: string}
 *   | {type: "resync", reason: string}} Effect
 */

/** @typedef {{state: ClientState, effects: Effect[]}} Transition */

/**
 * @typedef {object} OpRecord a committed operation as the server sends it
 * @property {number} rev
 * @property {TextOperation | import("./text-operation.js").Component[]} op
 * @property {string|null} [client]
 * @property {number|null} [seq]
 * @property {object} [user]
 */

/**
 * @typedef {object} Welcome the parts of a welcome message used here
 * @property {number} rev
 * @property {string} [text]
 * @property {OpRecord[]} [ops]
 * @property {number} [seq]
 */

/** @typedef {[number, number]} Range */
/** @typedef {Range[] | null} Selection */

/**
 * @param {Partial<ClientState>} fields
 * @returns {ClientState}
 */
function make(fields) {
  const state = {
    kind: ClientStateKind.SYNCHRONIZED,
    rev: 0,
    seq: 0,
    outstanding: null,
    buffer: null,
    outstandingEdits: 0,
    bufferEdits: 0,
    ...fields,
  };
  if (state.outstanding === null) state.kind = ClientStateKind.SYNCHRONIZED;
  else if (state.buffer === null) state.kind = ClientStateKind.AWAITING_CONFIRM;
  else state.kind = ClientStateKind.AWAITING_WITH_BUFFER;
  return Object.freeze(state);
}

/**
 * @param {TextOperation | import("./text-operation.js").Component[]} op
 * @returns {TextOperation}
 */
function asOperation(op) {
  return op instanceof TextOperation ? op : TextOperation.fromJSON(op);
}

/**
 * A synchronized client at revision `rev` whose client id last used `seq`.
 * @param {number} rev
 * @param {number} [seq]
 * @returns {ClientState}
 */
export function synchronized(rev, seq = 0) {
  return make({ rev, seq });
}

/**
 * The first welcome of a session (or one after discarding local work): the
 * document is the welcome's text.
 * @param {Welcome} welcome must carry text
 * @returns {Transition}
 */
export function load(welcome) {
  if (typeof welcome.text !== "string") throw new TypeError("load needs a welcome with text");
  return {
    state: synchronized(welcome.rev, welcome.seq ?? 0),
    effects: [{ type: "reset", rev: welcome.rev, text: welcome.text }],
  };
}

/**
 * Local edits not yet acknowledged by the server.
 * @param {ClientState} state
 * @returns {number}
 */
export function unsentEdits(state) {
  return state.outstandingEdits + state.bufferEdits;
}

/**
 * Everything the local document has that the server has not acknowledged,
 * as one operation on the server document at state.rev, or null.
 * @param {ClientState} state
 * @returns {TextOperation|null}
 */
export function pendingOperation(state) {
  if (state.outstanding === null) return null;
  return state.buffer === null ? state.outstanding : compose(state.outstanding, state.buffer);
}

/**
 * A local edit, already applied to the local document.
 * @param {ClientState} state
 * @param {TextOperation} op
 * @returns {Transition}
 */
export function applyClient(state, op) {
  if (op.isNoop()) return { state, effects: [] };
  if (state.outstanding === null) {
    const seq = state.seq + 1;
    return {
      state: make({ ...state, seq, outstanding: op, outstandingEdits: 1 }),
      effects: [{ type: "send", rev: state.rev, seq, op }],
    };
  }
  const buffer = state.buffer === null ? op : compose(state.buffer, op);
  return { state: make({ ...state, buffer, bufferEdits: state.bufferEdits + 1 }), effects: [] };
}

/**
 * Another client's operation, committed as revision record.rev.
 * @param {ClientState} state
 * @param {OpRecord} record
 * @returns {Transition}
 */
export function applyServer(state, record) {
  if (record.rev <= state.rev) return { state, effects: [] }; // already have it
  if (record.rev !== state.rev + 1) {
    return { state, effects: [{ type: "resync", reason: `gap: expected revision ${state.rev + 1}, got ${record.rev}` }] };
  }
  const op = asOperation(record.op);
  let outstanding = state.outstanding;
  let buffer = state.buffer;
  let remote = op;
  if (outstanding !== null) [outstanding, remote] = transform(outstanding, remote);
  if (buffer !== null) [buffer, remote] = transform(buffer, remote);
  /** @type {Effect} */
  const apply = { type: "apply", op: remote };
  if (record.client !== undefined) apply.client = record.client;
  if (record.user !== undefined) apply.user = record.user;
  return {
    state: make({ ...state, rev: record.rev, outstanding, buffer }),
    effects: [{ type: "committed", rev: record.rev, op, own: false }, apply],
  };
}

/**
 * The acknowledgement of our operation `seq`, committed as revision `rev`.
 * @param {ClientState} state
 * @param {number} seq
 * @param {number} rev
 * @returns {Transition}
 */
export function serverAck(state, seq, rev) {
  return ack(state, seq, rev, true);
}

/**
 * @param {ClientState} state
 * @param {number} seq
 * @param {number} rev
 * @param {boolean} sendBuffer whether to send the buffer now (not during a catch-up)
 * @returns {Transition}
 */
function ack(state, seq, rev, sendBuffer) {
  if (state.outstanding === null || seq !== state.seq) {
    // An ack for an op acknowledged before (the server acks duplicates) is harmless.
    if (seq <= state.seq) return { state, effects: [] };
    return { state, effects: [{ type: "resync", reason: `unexpected ack of seq ${seq}` }] };
  }
  if (rev !== state.rev + 1) {
    return { state, effects: [{ type: "resync", reason: `gap: expected ack at revision ${state.rev + 1}, got ${rev}` }] };
  }
  /** @type {Effect[]} */
  const effects = [{ type: "committed", rev, op: state.outstanding, own: true }];
  if (state.buffer === null) {
    return { state: make({ ...state, rev, outstanding: null, outstandingEdits: 0 }), effects };
  }
  const next = make({
    ...state,
    rev,
    seq: state.seq + 1,
    outstanding: state.buffer,
    buffer: null,
    outstandingEdits: state.bufferEdits,
    bufferEdits: 0,
  });
  if (sendBuffer) effects.push({ type: "send", rev, seq: next.seq, op: state.buffer });
  return { state: next, effects };
}

/**
 * Resume after a reconnect whose welcome carries the catch-up list `ops`
 * (revisions state.rev+1 .. welcome.rev). A record with our client id and the
 * outstanding seq is our acknowledgement; every other record is a remote edit.
 * Then the outstanding operation, if still unacknowledged, is sent again with
 * the same seq at the new revision (the server drops duplicates).
 * @param {ClientState} state
 * @param {Welcome} welcome must carry ops
 * @param {string} clientId our client id
 * @returns {Transition}
 */
export function reconnect(state, welcome, clientId) {
  if (!Array.isArray(welcome.ops)) throw new TypeError("reconnect needs a welcome with ops");
  /** @type {Effect[]} */
  const effects = [];
  let current = state;
  for (const record of welcome.ops) {
    const own = current.outstanding !== null && record.client === clientId && record.seq === current.seq;
    if (record.rev !== current.rev + 1) {
      effects.push({ type: "resync", reason: `catch-up gap: expected revision ${current.rev + 1}, got ${record.rev}` });
      return { state: current, effects };
    }
    const step = own ? ack(current, current.seq, record.rev, false) : applyServer(current, record);
    current = step.state;
    effects.push(...step.effects);
  }
  if (current.rev !== welcome.rev) {
    effects.push({ type: "resync", reason: `catch-up ended at ${current.rev}, welcome is at ${welcome.rev}` });
    return { state: current, effects };
  }
  current = renumber(current, welcome.seq ?? 0);
  if (current.outstanding !== null) {
    effects.push({ type: "send", rev: current.rev, seq: current.seq, op: current.outstanding });
  }
  return { state: current, effects };
}

/**
 * Make sure our next seq is above what the server has committed for our id.
 * The server's seq can only be ahead of ours if another writer shares our id
 * (a duplicated tab): our unacknowledged operation then needs a fresh seq, or
 * the server would take it for a duplicate and drop it.
 * @param {ClientState} state
 * @param {number} committedSeq the welcome's seq
 * @returns {ClientState}
 */
function renumber(state, committedSeq) {
  if (state.outstanding === null) return committedSeq > state.seq ? make({ ...state, seq: committedSeq }) : state;
  return committedSeq >= state.seq ? make({ ...state, seq: committedSeq + 1 }) : state;
}

/**
 * Resume after a reconnect whose welcome carries the full text instead of a
 * catch-up (the server no longer keeps the operations after state.rev). The
 * remote changes are recovered as one diff from `serverText` (the server
 * document at state.rev) to the welcome's text; pending local work is
 * transformed against it and sent, so nothing typed is lost.
 * @param {ClientState} state
 * @param {Welcome} welcome must carry text
 * @param {string} serverText the server document at state.rev
 * @returns {Transition}
 */
export function rebase(state, welcome, serverText) {
  if (typeof welcome.text !== "string") throw new TypeError("rebase needs a welcome with text");
  const committedSeq = welcome.seq ?? 0;
  // Whether our outstanding operation is already part of the welcome's text.
  const committed = state.outstanding !== null && committedSeq >= state.seq;
  let base = serverText;
  /** @type {TextOperation|null} */
  let pending = pendingOperation(state);
  let edits = unsentEdits(state);
  if (committed) {
    base = /** @type {TextOperation} */ (state.outstanding).apply(serverText);
    pending = state.buffer;
    edits = state.bufferEdits;
  }
  const remote = operationFromChange(base, welcome.text);
  /** @type {Effect[]} */
  const effects = [{ type: "server_text", rev: welcome.rev, text: welcome.text }];
  if (pending === null) {
    if (!remote.isNoop()) effects.push({ type: "apply", op: remote });
    return { state: synchronized(welcome.rev, Math.max(state.seq, committedSeq)), effects };
  }
  const [pendingPrime, remotePrime] = transform(pending, remote);
  if (!remotePrime.isNoop()) effects.push({ type: "apply", op: remotePrime });
  if (pendingPrime.isNoop()) {
    return { state: synchronized(welcome.rev, Math.max(state.seq, committedSeq)), effects };
  }
  const seq = Math.max(committed ? state.seq + 1 : state.seq, committedSeq + 1);
  effects.push({ type: "send", rev: welcome.rev, seq, op: pendingPrime });
  const next = make({ rev: welcome.rev, seq, outstanding: pendingPrime, outstandingEdits: edits });
  return { state: next, effects };
}

/**
 * Move every range of a selection through an operation (see transformIndex:
 * a caret where the operation inserts moves after the inserted text, so the
 * author's own caret follows what they typed).
 * @param {Selection} selection code point offsets in op's base document
 * @param {TextOperation} op
 * @returns {Selection}
 */
export function transformSelection(selection, op) {
  if (selection === null) return null;
  return selection.map(([anchor, head]) => [transformIndex(anchor, op), transformIndex(head, op)]);
}

/**
 * Map a position in op's target document back to its base document: a
 * position inside or at the end of inserted text maps to where the insert
 * is; a position next to deleted text stays before it.
 * @param {number} index code point offset in op's target document
 * @param {TextOperation} op
 * @returns {number} code point offset in op's base document
 */
export function baseIndex(index, op) {
  let base = 0;
  let target = 0;
  for (const c of op.ops) {
    if (typeof c === "string") {
      const length = cpLength(c);
      if (index <= target + length) return base;
      target += length;
    } else if (c > 0) {
      if (index <= target + c) return base + (index - target);
      base += c;
      target += c;
    } else {
      base -= c;
    }
  }
  return Math.min(base + Math.max(index - target, 0), op.baseLength);
}

/**
 * A selection in the local document, mapped to the server document at
 * state.rev (for a presence message): back through the buffer, then through
 * the outstanding operation.
 * @param {ClientState} state
 * @param {Selection} selection
 * @returns {Selection}
 */
export function selectionToServer(state, selection) {
  if (selection === null) return null;
  const back = [state.buffer, state.outstanding].filter((op) => op !== null);
  return selection.map((range) => {
    let [anchor, head] = range;
    for (const op of /** @type {TextOperation[]} */ (back)) {
      anchor = baseIndex(anchor, op);
      head = baseIndex(head, op);
    }
    return /** @type {Range} */ ([anchor, head]);
  });
}

/**
 * A selection in the server document at state.rev (a remote presence),
 * mapped to the local document: through the outstanding operation, then the
 * buffer.
 * @param {ClientState} state
 * @param {Selection} selection
 * @returns {Selection}
 */
export function selectionFromServer(state, selection) {
  let result = selection;
  if (state.outstanding !== null) result = transformSelection(result, state.outstanding);
  if (state.buffer !== null) result = transformSelection(result, state.buffer);
  return result;
}
