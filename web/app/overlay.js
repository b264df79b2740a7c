// Other users' carets and selections, drawn over the textarea.
//
// A textarea cannot say where its characters are, so a hidden "mirror" div
// with the same font, padding, width and wrapping holds the same text, and a
// DOM Range over the mirror's text node gives the rectangles of any offset
// or range. Only the text up to the end of the last line that holds a caret
// is copied (later text cannot change where earlier text wraps). The layer
// covers the textarea's padding box and moves with its scroll position.

import { colorFor, isColor, textOn } from "./prefs.js";

/** Computed styles that decide where text wraps and how big it is. */
const MIRRORED = [
  "fontFamily",
  "fontSize",
  "fontWeight",
  "fontStyle",
  "fontVariant",
  "fontStretch",
  "fontKerning",
  "fontFeatureSettings",
  "letterSpacing",
  "wordSpacing",
  "lineHeight",
  "textTransform",
  "textIndent",
  "tabSize",
  "paddingTop",
  "paddingRight",
  "paddingBottom",
  "paddingLeft",
  "whiteSpace",
  "wordBreak",
  "overflowWrap",
  "direction",
];

/**
 * @typedef {object} PeerView
 * @property {string} client
 * @property {{name?: string, color?: string}} user
 * @property {[number, number][] | null} selection display (UTF-16) offsets in the textarea
 */

export class RemoteCarets {
  /** @param {HTMLTextAreaElement} textarea inside a positioned container */
  constructor(textarea) {
    this.textarea = textarea;
    const doc = textarea.ownerDocument;
    const parent = /** @type {HTMLElement} */ (textarea.parentElement);
    this.layer = doc.createElement("div");
    this.layer.className = "remote-layer";
    this.layer.setAttribute("aria-hidden", "true");
    this.mirror = doc.createElement("div");
    this.mirror.className = "remote-mirror";
    this.mirror.setAttribute("aria-hidden", "true");
    this._text = doc.createTextNode("");
    this.mirror.append(this._text);
    parent.append(this.mirror, this.layer);
  }

  /**
   * Draw every peer's selection.
   * @param {PeerView[]} peers
   * @param {string} display the textarea's text
   */
  render(peers, display) {
    const textarea = this.textarea;
    const layer = this.layer;
    Object.assign(layer.style, {
      left: `${textarea.offsetLeft + textarea.clientLeft}px`,
      top: `${textarea.offsetTop + textarea.clientTop}px`,
      width: `${textarea.clientWidth}px`,
      height: `${textarea.clientHeight}px`,
    });
    const shown = peers.filter((p) => p.selection !== null && p.selection.length > 0);
    if (shown.length === 0) {
      layer.replaceChildren();
      return;
    }
    const furthest = Math.max(...shown.flatMap((p) => (p.selection ?? []).flat()));
    const lineEnd = display.indexOf("\n", furthest);
    this._mirror(display.slice(0, lineEnd < 0 ? display.length : lineEnd));

    const origin = this.mirror.getBoundingClientRect();
    const dx = -origin.left - textarea.scrollLeft;
    const dy = -origin.top - textarea.scrollTop;
    const range = textarea.ownerDocument.createRange();
    const length = this._text.length;
    const at = (/** @type {number} */ i) => Math.min(Math.max(i, 0), length);
    const fragment = textarea.ownerDocument.createDocumentFragment();
    for (const peer of shown) {
      const name = peer.user.name || "Anonymous";
      const color = isColor(peer.user.color) ? /** @type {string} */ (peer.user.color) : colorFor(peer.client);
      const group = textarea.ownerDocument.createElement("div");
      group.className = "remote";
      group.dataset.client = peer.client;
      group.dataset.name = name;
      group.style.setProperty("--peer", color);
      group.style.setProperty("--peer-text", textOn(color));
      for (const [anchor, head] of peer.selection ?? []) {
        if (anchor !== head) {
          range.setStart(this._text, at(Math.min(anchor, head)));
          range.setEnd(this._text, at(Math.max(anchor, head)));
          for (const r of range.getClientRects()) {
            if (r.width === 0) continue;
            group.append(box("remote-selection", r.left + dx, r.top + dy, r.width, r.height));
          }
        }
        range.setStart(this._text, at(head));
        range.setEnd(this._text, at(head));
        const rects = range.getClientRects();
        const r = rects.length > 0 ? rects[rects.length - 1] : range.getBoundingClientRect();
        const caret = box("remote-caret", r.left + dx, r.top + dy, 0, r.height || this._lineHeight());
        const label = textarea.ownerDocument.createElement("span");
        label.className = r.top + dy < 18 ? "remote-label below" : "remote-label";
        label.textContent = name;
        caret.append(label);
        group.append(caret);
      }
      fragment.append(group);
    }
    layer.replaceChildren(fragment);
  }

  /**
   * Copy the textarea's text layout and `text` into the mirror.
   * @param {string} text
   */
  _mirror(text) {
    const style = getComputedStyle(this.textarea);
    const mirror = /** @type {Record<string, string>} */ (/** @type {unknown} */ (this.mirror.style));
    const computed = /** @type {Record<string, string>} */ (/** @type {unknown} */ (style));
    for (const name of MIRRORED) mirror[name] = computed[name];
    this.mirror.style.width = `${this.textarea.clientWidth}px`;
    // A zero-width space gives an offset after a final "\n" a line to sit on.
    const data = `${text}\u200b`;
    if (this._text.data !== data) this._text.data = data;
  }

  /** @returns {number} px */
  _lineHeight() {
    const style = getComputedStyle(this.textarea);
    const h = Number.parseFloat(style.lineHeight);
    return Number.isFinite(h) ? h : Number.parseFloat(style.fontSize) * 1.2;
  }
}

/**
 * @param {string} className
 * @param {number} left
 * @param {number} top
 * @param {number} width
 * @param {number} height
 * @returns {HTMLDivElement}
 */
function box(className, left, top, width, height) {
  const el = document.createElement("div");
  el.className = className;
  el.style.transform = `translate(${Math.round(left)}px, ${Math.round(top)}px)`;
  if (width > 0) el.style.width = `${Math.round(width)}px`;
  el.style.height = `${Math.round(height)}px`;
  return el;
}
