// An in-memory server speaking PROTOCOL §3, and a network whose message
// deliveries the test schedules one at a time, for convergence simulations.
// The server follows the contract: it transforms an incoming operation
// against the revisions after its base, drops duplicates by (client, seq)
// with an ack at the original revision, and sends catch-up lists on hello.rev.

import { TextOperation, transform, transformIndex } from "../lib/text-operation.js";

/** One direction-pair of a connection: what each side sent, not yet delivered. */
export class Link {
  /**
   * @param {Network} network
   * @param {string} url
   */
  constructor(network, url) {
    this.network = network;
    this.url = url;
    this.readyState = 0;
    /** @type {string[]} */
    this.toServer = [];
    /** @type {string[]} */
    this.toClient = [];
    this.accepted = false;
    /** @type {Session | null} */
    this.session = null;
    /** @type {((e: any) => void) | null} */
    this.onopen = null;
    /** @type {((e: any) => void) | null} */
    this.onmessage = null;
    /** @type {((e: any) => void) | null} */
    this.onclose = null;
    /** @type {((e: any) => void) | null} */
    this.onerror = null;
  }

  /** @param {string} data the client sends */
  send(data) {
    if (this.readyState !== 1) throw new Error("send on a socket that is not open");
    this.toServer.push(data);
  }

  /**
   * The client closes: the server notices at once, undelivered messages are lost.
   * @param {number} [code]
   */
  close(code = 1000) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.network.drop(this);
    this.onclose?.({ code, reason: "", wasClean: true });
  }

  /**
   * The connection breaks: both sides notice, undelivered messages are lost.
   * @param {number} code
   */
  cut(code) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.network.drop(this);
    this.onclose?.({ code, reason: "", wasClean: false });
  }
}

/** @typedef {{link: Link, client: string | null, user: object}} Session */

export class FakeServer {
  /** @param {string} text the document at revision 0 */
  constructor(text = "") {
    /** @type {string[]} the document at each revision */
    this.texts = [text];
    /** @type {{rev: number, op: TextOperation, client: string, seq: number, user: object}[]} */
    this.records = [];
    /** @type {Set<Session>} */
    this.sessions = new Set();
    /** Revisions before this one are "no longer kept": a hello.rev below it gets the text. */
    this.keptFrom = 0;
    /** What happened, so a simulation can check it covered the interesting paths. */
    this.stats = { duplicates: 0, catchUps: 0, ownInCatchUp: 0, textWelcomes: 0 };
  }

  /** Forget the operations so far, as a server that prunes old history would. */
  prune() {
    this.keptFrom = this.rev;
  }

  get rev() {
    return this.records.length;
  }

  get text() {
    return this.texts[this.texts.length - 1];
  }

  /**
   * @param {Session} session
   * @param {any} message
   */
  send(session, message) {
    session.link.toClient.push(JSON.stringify(message));
  }

  /**
   * @param {Session} session
   * @param {any} message
   */
  broadcast(session, message) {
    for (const other of this.sessions) if (other !== session && other.client !== null) this.send(other, message);
  }

  /**
   * @param {Link} link
   * @param {string} data
   */
  receive(link, data) {
    const message = JSON.parse(data);
    let session = link.session;
    if (session === null) {
      if (message.type !== "hello") throw new Error(`first message is ${message.type}`);
      session = { link, client: message.client, user: message.user ?? {} };
      link.session = session;
      for (const old of [...this.sessions]) if (old.client === message.client) old.link.cut(4409);
      this.sessions.add(session);
      this.welcome(session, message.rev);
      return;
    }
    if (message.type === "op") this.op(session, message);
    else if (message.type === "presence") this.presence(session, message);
    else if (message.type === "ping") this.send(session, { type: "pong" });
    else throw new Error(`unexpected ${message.type}`);
  }

  /**
   * @param {Session} session
   * @param {number | undefined} rev
   */
  welcome(session, rev) {
    const seq = Math.max(0, ...this.records.filter((r) => r.client === session.client).map((r) => r.seq));
    const message = { type: "welcome", doc: "sim", rev: this.rev, role: "edit", seq, peers: [] };
    if (typeof rev === "number" && rev >= this.keptFrom && rev <= this.rev) {
      const ops = this.records.slice(rev);
      this.stats.catchUps++;
      if (ops.some((r) => r.client === session.client)) this.stats.ownInCatchUp++;
      Object.assign(message, { ops: ops.map((r) => ({ ...r, op: r.op.toJSON() })) });
    } else {
      if (typeof rev === "number") this.stats.textWelcomes++;
      Object.assign(message, { text: this.text });
    }
    this.send(session, message);
    this.broadcast(session, { type: "join", client: session.client, user: session.user });
  }

  /**
   * @param {Session} session
   * @param {{rev: number, seq: number, op: any}} message
   */
  op(session, { rev, seq, op: json }) {
    const client = /** @type {string} */ (session.client);
    const done = this.records.find((r) => r.client === client && r.seq === seq);
    if (done) {
      this.stats.duplicates++;
      return this.send(session, { type: "ack", seq, rev: done.rev });
    }
    const last = Math.max(0, ...this.records.filter((r) => r.client === client).map((r) => r.seq));
    if (seq !== last + 1) return this.send(session, { type: "error", code: "bad_seq", message: "seq", seq });
    let op = TextOperation.fromJSON(json);
    for (const record of this.records.slice(rev)) [op] = transform(op, record.op);
    const record = { rev: this.rev + 1, op, client, seq, user: session.user };
    this.records.push(record);
    this.texts.push(op.apply(this.text));
    this.send(session, { type: "ack", seq, rev: record.rev });
    this.broadcast(session, { type: "op", ...record, op: op.toJSON() });
  }

  /**
   * @param {Session} session
   * @param {{rev: number, selection: [number, number][] | null}} message
   */
  presence(session, { rev, selection }) {
    let moved = selection;
    for (const record of this.records.slice(rev)) {
      moved = moved && moved.map(([a, h]) => [transformIndex(a, record.op), transformIndex(h, record.op)]);
    }
    this.broadcast(session, { type: "presence", client: session.client, user: session.user, rev: this.rev, selection: moved });
  }

  /** @param {Link} link */
  disconnected(link) {
    const session = link.session;
    if (session === null || !this.sessions.delete(session)) return;
    this.broadcast(session, { type: "leave", client: session.client });
  }
}

/** Links between clients and one FakeServer; the test decides every delivery. */
export class Network {
  /** @param {FakeServer} server */
  constructor(server) {
    this.server = server;
    /** @type {Set<Link>} */
    this.links = new Set();
    const network = this;
    /** A WebSocket constructor for Connection. */
    this.WebSocket = class extends Link {
      /** @param {string} url */
      constructor(url) {
        super(network, url);
        network.links.add(this);
      }
    };
  }

  /** @param {Link} link */
  drop(link) {
    this.links.delete(link);
    this.server.disconnected(link);
  }

  /**
   * Every step that can happen now.
   * @returns {(() => void)[]}
   */
  steps() {
    /** @type {(() => void)[]} */
    const steps = [];
    for (const link of this.links) {
      if (!link.accepted) {
        steps.push(() => {
          link.accepted = true;
          link.readyState = 1;
          link.onopen?.({});
        });
        continue;
      }
      if (link.toServer.length > 0) {
        steps.push(() => this.server.receive(link, /** @type {string} */ (link.toServer.shift())));
      }
      if (link.toClient.length > 0) {
        steps.push(() => {
          const data = /** @type {string} */ (link.toClient.shift());
          if (link.readyState === 1) link.onmessage?.({ data });
        });
      }
    }
    return steps;
  }
}
