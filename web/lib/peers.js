// The other clients on the document and their selections, kept in the
// coordinates of the local document: a selection arrives in the coordinates
// of some server revision, is moved to the current one through the recently
// committed operations, then through our pending work; afterwards it moves
// with every operation applied to the local document.

import { selectionFromServer, transformSelection } from "./client.js";

/** @typedef {[number, number][] | null} Selection */

/**
 * @typedef {object} Peer
 * @property {string} client
 * @property {object} user
 * @property {Selection} selection code points in the local document
 */

export class PeerTable {
  /** @param {number} historyLimit committed revisions kept for mapping late selections */
  constructor(historyLimit) {
    this._historyLimit = historyLimit;
    /** @type {Map<string, Peer>} */
    this._peers = new Map();
    /** @type {{rev: number, op: import("./text-operation.js").TextOperation}[]} oldest first, consecutive */
    this._history = [];
  }

  /** @returns {Peer[]} copies, in order of arrival */
  list() {
    return Array.from(this._peers.values(), (p) => ({ ...p, selection: p.selection && p.selection.map(([a, h]) => [a, h]) }));
  }

  /** @returns {string[]} */
  clients() {
    return [...this._peers.keys()];
  }

  /** @param {string} client */
  has(client) {
    return this._peers.has(client);
  }

  /**
   * @param {string} client
   * @param {object} user
   * @param {Selection} selection in the local document
   */
  set(client, user, selection) {
    this._peers.set(client, { client, user, selection });
  }

  /**
   * @param {string} client
   * @returns {boolean} whether it was there
   */
  delete(client) {
    return this._peers.delete(client);
  }

  /**
   * The server document became revision `rev` by `op`.
   * @param {number} rev
   * @param {import("./text-operation.js").TextOperation} op
   */
  remember(rev, op) {
    this._history.push({ rev, op });
    if (this._history.length > this._historyLimit) this._history.shift();
  }

  /** The server's history is unknown from here on (the document was reloaded). */
  forgetHistory() {
    this._history = [];
  }

  /** The local document was replaced: nobody's selection means anything now. */
  clearSelections() {
    for (const peer of this._peers.values()) peer.selection = null;
  }

  /**
   * Move every selection through an operation applied to the local document.
   * @param {import("./text-operation.js").TextOperation} op
   */
  transform(op) {
    for (const peer of this._peers.values()) peer.selection = transformSelection(peer.selection, op);
  }

  /**
   * A selection in the server document at `rev`, in the local document; or
   * undefined when it cannot be placed (a revision ahead of ours, or older
   * than the history kept).
   * @param {import("./client.js").ClientState} state
   * @param {Selection} selection
   * @param {number} rev
   * @param {number} length code points of the local document (selections are clamped to it)
   * @returns {Selection | undefined}
   */
  toLocal(state, selection, rev, length) {
    if (selection === null) return null;
    if (rev > state.rev) return undefined;
    /** @type {Selection} */
    let result = selection;
    if (rev < state.rev) {
      const start = this._history.findIndex((entry) => entry.rev === rev + 1);
      if (start < 0 || this._history.length - start !== state.rev - rev) return undefined;
      for (const { op } of this._history.slice(start)) result = transformSelection(result, op);
    }
    return clampSelection(selectionFromServer(state, result), length);
  }
}

/**
 * @param {Selection} selection
 * @param {number} max
 * @returns {Selection}
 */
export function clampSelection(selection, max) {
  return selection === null ? null : selection.map(([a, h]) => [Math.min(a, max), Math.min(h, max)]);
}
