// A live editing session over a WebSocket (PROTOCOL §3).
//
// Connection owns the socket, the timers and the documents; every decision
// about operations is made by the state machine in client.js, whose effects
// are carried out here. Positions and operations count code points; an
// editor converts to UTF-16 at its own edge (see utf16.js).
//
// Life of a connection: connect() opens a socket and says hello; the welcome
// loads the document (or catches up after a reconnect). Edits are applied
// locally at once and sent one at a time. When the socket drops, edits go on
// offline and are composed into the buffer; the connection retries with
// exponential backoff and full jitter, and on the next welcome the catch-up
// tells which of our operations were committed and the rest is resent.

import { backoffDelay } from "./backoff.js";
import * as machine from "./client.js";
import { loadClientId, tabStorage } from "./client-id.js";
import { cpLength } from "./codepoints.js";
import { Emitter } from "./emitter.js";
import { isSelection, parseServerMessage } from "./messages.js";
import { PeerTable, clampSelection } from "./peers.js";
import { TextOperation } from "./text-operation.js";

export { loadClientId, newClientId } from "./client-id.js";

/** What the connection is doing, reported by the "status" event. */
export const ConnectionStatus = Object.freeze({
  /** A socket is opening, or waiting for the welcome. */
  CONNECTING: "connecting",
  /** Welcomed: edits are sent as they are made. */
  CONNECTED: "connected",
  /** No socket: waiting to retry, closed by close(), or refused for good. Edits are kept. */
  OFFLINE: "offline",
});

/** Close codes after which retrying cannot help: the connection stops. */
const FATAL_CLOSE_CODES = new Map([
  [1003, "the server refused a binary frame"],
  [4400, "bad hello or document id"],
  [4401, "no or invalid token"],
  [4403, "the token does not grant this document"],
  [4409, "replaced by a newer connection with the same client id (another tab?)"],
  [4410, "the document was deleted"],
]);

/** Close code for a message over the server's size limit: our operation was too big. */
const CLOSE_TOO_LARGE = 1009;

/**
 * @typedef {object} Timers
 * @property {(fn: () => void, ms: number) => any} setTimeout
 * @property {(handle: any) => void} clearTimeout
 */

/**
 * @typedef {object} ConnectionOptions
 * @property {string} url the WebSocket URL of /ws/{doc_id}
 * @property {{name?: string, color?: string}} [user] sent in hello
 * @property {string | null | (() => string | null)} [token] a JWT, or a function returning a fresh one per connect
 * @property {string} [clientId] default: random, kept per tab in sessionStorage
 * @property {new (url: string) => WebSocket} [WebSocket] default globalThis.WebSocket
 * @property {Pick<Storage, "getItem" | "setItem"> | null} [storage] default globalThis.sessionStorage
 * @property {Timers} [timers] default the global setTimeout/clearTimeout
 * @property {() => number} [random] uniform in [0, 1), for backoff jitter (default Math.random)
 * @property {number} [backoffBase] ms (default 500)
 * @property {number} [backoffCap] ms (default 10000)
 * @property {number} [pingInterval] ms between keep-alive pings (default 15000)
 * @property {number} [pongTimeout] ms to wait for any message after a ping (default 10000)
 * @property {number} [welcomeTimeout] ms to wait for the welcome (default 10000)
 * @property {number} [presenceDelay] ms: local selection updates are sent at most this often (default 50)
 * @property {number} [retryAfterRateLimit] ms before resending an operation refused as rate_limited (default 1000)
 * @property {number} [historyLimit] committed revisions kept to map late presence updates (default 200)
 * @property {(error: unknown) => void} [reportError] where an exception thrown by a listener goes
 *   (default globalThis.reportError, else rethrown in a microtask)
 */

/** @typedef {import("./peers.js").Peer} PeerState */

export class Connection {
  /** @param {ConnectionOptions} options */
  constructor(options) {
    this._url = options.url;
    this._user = options.user;
    this._token = options.token ?? null;
    this._WebSocket = options.WebSocket ?? globalThis.WebSocket;
    this._timers = options.timers ?? {
      setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
      clearTimeout: (handle) => globalThis.clearTimeout(handle),
    };
    this._random = options.random ?? Math.random;
    this._backoffBase = options.backoffBase ?? 500;
    this._backoffCap = options.backoffCap ?? 10_000;
    this._pingInterval = options.pingInterval ?? 15_000;
    this._pongTimeout = options.pongTimeout ?? 10_000;
    this._welcomeTimeout = options.welcomeTimeout ?? 10_000;
    this._presenceDelay = options.presenceDelay ?? 50;
    this._retryAfterRateLimit = options.retryAfterRateLimit ?? 1000;
    /** This tab's client id. */
    this.clientId = options.clientId ?? loadClientId(options.storage === undefined ? tabStorage() : options.storage);

    this._events = new Emitter(options.reportError);

    /** @type {machine.ClientState | null} */
    this._state = null;
    /** @type {string | null} the local document */
    this._text = null;
    this._length = 0; // code points of _text
    /** @type {string | null} the server document at _state.rev */
    this._serverText = null;
    this._peers = new PeerTable(options.historyLimit ?? 200);
    /** @type {string | null} */
    this._role = null;
    /** @type {string | null} */
    this._doc = null;

    /** @type {WebSocket | null} */
    this._socket = null;
    this._welcomed = false;
    /** @type {string} */
    this._status = ConnectionStatus.OFFLINE;
    this._reportedUnsent = 0;
    this._stopped = true; // not connecting: close() was called, or a fatal close
    this._attempt = 0; // failed attempts since the last welcome
    this._askText = false; // say hello without rev: the next welcome brings the full text
    this._discard = false; // drop local work when the next welcome arrives

    /** @type {[number, number][] | null} our selection in the local document */
    this._selection = null;
    this._presenceDirty = false;

    /** @type {Record<string, any>} timer handles by name */
    this._handles = {};
  }

  // ---- public surface -------------------------------------------------------

  /** @returns {string | null} the local document, null until the first welcome */
  get text() {
    return this._text;
  }

  /** @returns {number | null} the server revision the local document is based on */
  get rev() {
    return this._state?.rev ?? null;
  }

  /** @returns {string | null} "edit" or "view", from the last welcome */
  get role() {
    return this._role;
  }

  /** @returns {string | null} the document id, from the last welcome */
  get doc() {
    return this._doc;
  }

  /** @returns {string} one of ConnectionStatus */
  get status() {
    return this._status;
  }

  /** @returns {number} local edits the server has not acknowledged */
  get unsent() {
    return this._state === null ? 0 : machine.unsentEdits(this._state);
  }

  /** @returns {PeerState[]} the other clients on this document, selections in local code points */
  get peers() {
    return this._peers.list();
  }

  /**
   * Listen to an event: "reset" {text, rev}, "change" {op, client, user},
   * "presence" {client, user, selection}, "join" {client, user},
   * "leave" {client}, "status" {status, unsent}, "error" {code, message,
   * seq?, fatal, discarded?}.
   * @param {string} type
   * @param {(detail: any) => void} listener
   * @returns {() => void} removes the listener
   */
  on(type, listener) {
    return this._events.on(type, listener);
  }

  /**
   * @param {string} type
   * @param {(detail: any) => void} listener
   */
  off(type, listener) {
    this._events.off(type, listener);
  }

  /** Start connecting (and keep reconnecting until close()). */
  connect() {
    if (!this._stopped) return;
    this._stopped = false;
    this._batch(() => this._open());
  }

  /** Retry now instead of waiting out the backoff (e.g. when the browser comes online). */
  reconnectNow() {
    if (this._stopped || this._socket !== null) return;
    this._clear("retry");
    this._batch(() => this._open());
  }

  /** Close the socket and stop reconnecting. Local work is kept; connect() resumes. */
  close() {
    this._stopped = true;
    this._batch(() => {
      const socket = this._socket;
      this._detach();
      for (const name of Object.keys(this._handles)) this._clear(name);
      socket?.close(1000, "closed by client");
      this._setStatus(ConnectionStatus.OFFLINE);
    });
  }

  /**
   * A local edit: applied to the local document at once, sent when possible.
   * @param {TextOperation | import("./text-operation.js").Component[]} op on the current local document
   * @throws {Error} before the first welcome or with the view role;
   *   LengthMismatchError when op does not fit the document
   */
  edit(op) {
    if (this._state === null || this._text === null) throw new Error("no document loaded yet");
    if (this._role === "view") throw new Error("this document is read-only (view role)");
    const operation = op instanceof TextOperation ? op : TextOperation.fromJSON(op);
    const text = operation.apply(this._text);
    this._batch(() => {
      this._setText(text, operation.targetLength);
      this._transformSelections(operation);
      this._run(machine.applyClient(/** @type {machine.ClientState} */ (this._state), operation));
    });
  }

  /**
   * Our selection changed (code points in the local document; null when the
   * editor lost focus). Sent to others at most once per presenceDelay, always
   * with the latest value (trailing edge).
   * @param {[number, number][] | null} selection
   */
  setSelection(selection) {
    if (!isSelection(selection)) throw new TypeError("a selection is null or a list of [anchor, head] pairs");
    this._selection = selection === null ? null : selection.map(([a, h]) => [a, h]);
    this._presenceDirty = true;
    if (this._handles.presence === undefined) {
      this._later("presence", this._presenceDelay, () => this._flushPresence());
    }
  }

  // ---- socket lifecycle -----------------------------------------------------

  _open() {
    this._setStatus(ConnectionStatus.CONNECTING);
    let socket;
    try {
      socket = new this._WebSocket(this._url);
    } catch (e) {
      this._stopped = true;
      this._emit("error", { code: "connect_failed", message: String(e), fatal: true });
      this._setStatus(ConnectionStatus.OFFLINE);
      return;
    }
    this._socket = socket;
    this._welcomed = false;
    socket.onopen = () => this._socket === socket && this._batch(() => this._hello());
    socket.onmessage = (event) => this._socket === socket && this._batch(() => this._receive(event.data));
    socket.onclose = (event) => this._socket === socket && this._batch(() => this._closed(event.code, event.reason));
    socket.onerror = () => {}; // a close event follows
    this._later("welcome", this._welcomeTimeout, () => this._drop("no welcome in time"));
  }

  _hello() {
    const token = typeof this._token === "function" ? this._token() : this._token;
    /** @type {Record<string, unknown>} */
    const hello = { type: "hello", protocol: 1, client: this.clientId, token };
    if (this._user !== undefined) hello.user = this._user;
    if (this._state !== null && !this._askText && !this._discard) hello.rev = this._state.rev;
    this._send(hello);
  }

  /**
   * @param {number} code
   * @param {string} reason
   */
  _closed(code, reason) {
    this._detach();
    if (this._stopped) return this._setStatus(ConnectionStatus.OFFLINE);
    const fatal = FATAL_CLOSE_CODES.get(code);
    if (fatal !== undefined) {
      this._stopped = true;
      this._emit("error", { code: "closed", closeCode: code, message: reason || fatal, fatal: true });
      return this._setStatus(ConnectionStatus.OFFLINE);
    }
    if (code === CLOSE_TOO_LARGE) this._discardLocalWork("too_large", "an operation was over the server's size limit");
    this._retry();
  }

  /**
   * Give up on the current socket and reconnect.
   * @param {string} _reason why, for reading the code (the close frame carries none)
   */
  _drop(_reason) {
    const socket = this._socket;
    this._detach();
    socket?.close(1000);
    if (!this._stopped) this._retry();
  }

  /** Forget the current socket and its timers. */
  _detach() {
    this._socket = null;
    this._welcomed = false;
    for (const name of ["welcome", "ping", "pong", "resend"]) this._clear(name);
  }

  _retry() {
    this._setStatus(ConnectionStatus.OFFLINE);
    const delay = backoffDelay(this._attempt++, {
      base: this._backoffBase,
      cap: this._backoffCap,
      random: this._random,
    });
    this._later("retry", delay, () => this._open());
  }

  // ---- incoming messages ----------------------------------------------------

  /** @param {unknown} data */
  _receive(data) {
    this._clear("pong"); // any message shows the connection is alive
    const parsed = parseServerMessage(data);
    if (!parsed.ok && parsed.unknown) return; // a newer server's message type
    if (!parsed.ok) {
      this._emit("error", { code: "bad_message", message: `from server: ${parsed.error}`, fatal: false });
      // Losing a welcome, an op or an ack breaks the stream: reload the text
      // (rebase keeps local work) rather than risk another bad catch-up.
      if (parsed.type === "welcome" || parsed.type === "op" || parsed.type === "ack") {
        this._askText = true;
        this._drop(parsed.error);
      }
      return;
    }
    const message = parsed.message;
    if (!this._welcomed && message.type !== "welcome" && message.type !== "error" && message.type !== "pong") return;
    switch (message.type) {
      case "welcome":
        return this._onWelcome(message);
      case "ack":
        return this._run(machine.serverAck(/** @type {machine.ClientState} */ (this._state), message.seq, message.rev));
      case "op":
        if (message.client === this.clientId && message.seq === this._state?.seq && this._state?.outstanding) {
          // Our own operation broadcast to us: treat it as the ack.
          return this._run(machine.serverAck(this._state, message.seq, message.rev));
        }
        return this._run(machine.applyServer(/** @type {machine.ClientState} */ (this._state), message));
      case "presence":
        return this._onPresence(message.client, message.user, message.rev, message.selection);
      case "join":
        return this._onJoin(message.client, message.user);
      case "leave":
        return this._onLeave(message.client);
      case "error":
        return this._onError(message);
      case "ping":
        return void this._send({ type: "pong" });
      case "pong":
        return;
    }
  }

  /** @param {Extract<import("./messages.js").ServerMessage, {type: "welcome"}>} welcome */
  _onWelcome(welcome) {
    if (this._welcomed) return; // a second welcome is meaningless
    const fresh = this._state === null || this._discard;
    if (fresh && welcome.text === undefined) {
      this._emit("error", { code: "bad_message", message: "welcome without text for a new session", fatal: false });
      this._askText = true;
      return this._drop("welcome without text");
    }
    this._clear("welcome");
    this._welcomed = true;
    this._attempt = 0;
    this._role = welcome.role;
    this._doc = welcome.doc;
    this._askText = false;
    /** @type {machine.Transition} */
    let step;
    const state = /** @type {machine.ClientState} */ (this._state);
    if (fresh) step = machine.load(welcome);
    else if (welcome.ops !== undefined) step = machine.reconnect(state, welcome, this.clientId);
    else step = machine.rebase(state, welcome, /** @type {string} */ (this._serverText));
    this._discard = false;
    this._run(step);
    if (!this._welcomed) return; // the catch-up did not fit: _run reconnected
    this._setPeers(welcome.peers);
    this._setStatus(ConnectionStatus.CONNECTED);
    if (this._selection !== null) this._presenceDirty = true;
    this._flushPresence();
    this._schedulePing();
  }

  /** @param {{code: string, message: string, seq: number | null}} error */
  _onError({ code, message, seq }) {
    const state = this._state;
    const aboutOutstanding = seq !== null && state !== null && state.outstanding !== null && seq === state.seq;
    if (aboutOutstanding && code === "rate_limited") {
      this._emit("error", { code, message, seq, fatal: false });
      this._later("resend", this._retryAfterRateLimit * (1 + this._random()), () => this._resendOutstanding());
    } else if (aboutOutstanding && code === "bad_rev") {
      // Our base revision is older than the history the server keeps: reload
      // the text and rebase the local work onto it.
      this._emit("error", { code, message, seq, fatal: false });
      this._askText = true;
      this._drop("operation's revision refused");
    } else if (aboutOutstanding) {
      // The server refused our operation (bad_op, too_large, forbidden,
      // bad_seq, ...): the local document holds something the server will
      // never accept. Reload it, dropping the work not yet committed.
      this._discardLocalWork(code, message);
      this._drop(`operation refused: ${code}`);
    } else {
      this._emit("error", { code, message, seq, fatal: false });
    }
  }

  /**
   * @param {string} code
   * @param {string} message
   */
  _discardLocalWork(code, message) {
    const discarded = this.unsent;
    this._discard = true;
    this._emit("error", { code, message, fatal: false, discarded });
  }

  _resendOutstanding() {
    const state = this._state;
    if (state === null || state.outstanding === null || !this._welcomed) return;
    this._send({ type: "op", rev: state.rev, seq: state.seq, op: state.outstanding.toJSON() });
  }

  // ---- effects ---------------------------------------------------------------

  /**
   * Adopt a transition's state and carry out its effects in order.
   * @param {machine.Transition} step
   */
  _run({ state, effects }) {
    this._state = state;
    /** @type {string | null} */
    let resync = null;
    for (const effect of effects) {
      switch (effect.type) {
        case "send":
          if (this._welcomed) this._send({ type: "op", rev: effect.rev, seq: effect.seq, op: effect.op.toJSON() });
          break;
        case "apply":
          this._setText(effect.op.apply(/** @type {string} */ (this._text)), effect.op.targetLength);
          this._transformSelections(effect.op);
          this._emit("change", { op: effect.op, client: effect.client ?? null, user: effect.user ?? {} });
          break;
        case "committed":
          this._serverText = effect.op.apply(/** @type {string} */ (this._serverText));
          this._peers.remember(effect.rev, effect.op);
          break;
        case "server_text":
          this._serverText = effect.text;
          this._peers.forgetHistory();
          break;
        case "reset":
          this._serverText = effect.text;
          this._setText(effect.text, cpLength(effect.text));
          this._peers.forgetHistory();
          this._peers.clearSelections();
          this._selection = clampSelection(this._selection, this._length);
          this._emit("reset", { text: effect.text, rev: effect.rev });
          break;
        case "resync":
          resync = effect.reason;
          break;
      }
    }
    this._setStatus(this._status);
    if (resync !== null) this._drop(resync);
  }

  /**
   * @param {string} text
   * @param {number} length its code points
   */
  _setText(text, length) {
    this._text = text;
    this._length = length;
  }

  /** @param {Record<string, unknown>} message */
  _send(message) {
    if (this._socket === null || this._socket.readyState !== 1) return false;
    this._socket.send(JSON.stringify(message));
    return true;
  }

  // ---- presence --------------------------------------------------------------

  _flushPresence() {
    this._clear("presence");
    if (!this._presenceDirty || !this._welcomed || this._state === null) return;
    this._presenceDirty = false;
    const selection = machine.selectionToServer(this._state, this._selection);
    this._send({ type: "presence", rev: this._state.rev, selection });
  }

  /**
   * Move our selection and every peer's through an operation applied to the
   * local document.
   * @param {TextOperation} op
   */
  _transformSelections(op) {
    this._selection = machine.transformSelection(this._selection, op);
    this._peers.transform(op);
  }

  /**
   * @param {string} client
   * @param {object} user
   * @param {number} rev
   * @param {[number, number][] | null} selection
   */
  _onPresence(client, user, rev, selection) {
    if (client === this.clientId) return;
    const state = /** @type {machine.ClientState} */ (this._state);
    const local = this._peers.toLocal(state, selection, rev, this._length);
    if (local === undefined) return; // stale beyond our history, or ahead of us: the next one will do
    this._peers.set(client, user, local);
    this._emit("presence", { client, user, selection: local });
  }

  /**
   * @param {string} client
   * @param {object} user
   */
  _onJoin(client, user) {
    if (client === this.clientId) return;
    this._peers.set(client, user, null);
    this._emit("join", { client, user });
  }

  /** @param {string} client */
  _onLeave(client) {
    if (!this._peers.delete(client)) return;
    this._emit("leave", { client });
  }

  /** @param {import("./messages.js").Peer[]} peers from a welcome */
  _setPeers(peers) {
    const state = /** @type {machine.ClientState} */ (this._state);
    const present = new Set(peers.map((p) => p.client));
    for (const client of this._peers.clients()) if (!present.has(client)) this._onLeave(client);
    for (const peer of peers) {
      if (peer.client === this.clientId) continue;
      if (!this._peers.has(peer.client)) this._onJoin(peer.client, peer.user);
      if (peer.selection !== null) this._onPresence(peer.client, peer.user, peer.rev ?? state.rev, peer.selection);
    }
  }

  // ---- keep-alive, timers, events -------------------------------------------

  _schedulePing() {
    this._later("ping", this._pingInterval, () => {
      if (this._send({ type: "ping" }) && this._handles.pong === undefined) {
        this._later("pong", this._pongTimeout, () => this._drop("no answer to ping"));
      }
      this._schedulePing();
    });
  }

  /**
   * Run `fn` after `ms` under timer `name`, replacing a pending one.
   * @param {string} name
   * @param {number} ms
   * @param {() => void} fn
   */
  _later(name, ms, fn) {
    this._clear(name);
    this._handles[name] = this._timers.setTimeout(() => {
      delete this._handles[name];
      this._batch(fn);
    }, ms);
  }

  /** @param {string} name */
  _clear(name) {
    if (this._handles[name] === undefined) return;
    this._timers.clearTimeout(this._handles[name]);
    delete this._handles[name];
  }

  /** @param {string} status */
  _setStatus(status) {
    const unsent = this.unsent;
    if (status === this._status && unsent === this._reportedUnsent) return;
    this._status = status;
    this._reportedUnsent = unsent;
    this._emit("status", { status, unsent });
  }

  /**
   * @param {string} type
   * @param {any} detail
   */
  _emit(type, detail) {
    this._events.emit(type, detail);
  }

  /** @param {() => void} step */
  _batch(step) {
    this._events.batch(step);
  }
}
