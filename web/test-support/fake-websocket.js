// A WebSocket stand-in that the test drives from the server's side.

/**
 * A fresh FakeWebSocket class with its own list of instances.
 * @returns {typeof FakeWebSocketBase & {instances: FakeWebSocketBase[]}}
 */
export function makeFakeWebSocket() {
  return class FakeWebSocket extends FakeWebSocketBase {
    /** @type {FakeWebSocketBase[]} */
    static instances = [];

    /** @param {string} url */
    constructor(url) {
      super(url);
      FakeWebSocket.instances.push(this);
    }

    /** @returns {FakeWebSocketBase} the newest socket */
    static get last() {
      return FakeWebSocket.instances[FakeWebSocket.instances.length - 1];
    }
  };
}

export class FakeWebSocketBase {
  /** @param {string} url */
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    /** @type {any[]} messages the client sent, parsed */
    this.sent = [];
    /** @type {{code: number, reason: string} | null} */
    this.closedByClient = null;
    /** @type {((e: any) => void) | null} */
    this.onopen = null;
    /** @type {((e: any) => void) | null} */
    this.onmessage = null;
    /** @type {((e: any) => void) | null} */
    this.onclose = null;
    /** @type {((e: any) => void) | null} */
    this.onerror = null;
  }

  /** @param {string} data */
  send(data) {
    if (this.readyState !== 1) throw new Error("send on a socket that is not open");
    this.sent.push(JSON.parse(data));
  }

  /**
   * @param {number} [code]
   * @param {string} [reason]
   */
  close(code = 1000, reason = "") {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.closedByClient = { code, reason };
    this.onclose?.({ code, reason, wasClean: true });
  }

  // ---- the server's side ----

  open() {
    this.readyState = 1;
    this.onopen?.({});
  }

  /** @param {unknown} message an object (sent as JSON) or a raw string */
  receive(message) {
    this.onmessage?.({ data: typeof message === "string" ? message : JSON.stringify(message) });
  }

  /**
   * @param {number} code
   * @param {string} [reason]
   */
  serverClose(code, reason = "") {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onerror?.({});
    this.onclose?.({ code, reason, wasClean: false });
  }

  /** @returns {any[]} the messages sent since the last call */
  take() {
    const sent = this.sent;
    this.sent = [];
    return sent;
  }

  /**
   * @param {string} type
   * @returns {any[]} sent messages of one type, taken out of `sent`
   */
  takeType(type) {
    const picked = this.sent.filter((m) => m.type === type);
    this.sent = this.sent.filter((m) => m.type !== type);
    return picked;
  }
}
