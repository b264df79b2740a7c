// The history panel: saved versions, a slider over every revision showing the
// text as it was (read-only, with what changed highlighted), naming the
// current version, and restoring an old one after a confirmation.
//
// Revisions never change once committed, so their texts are cached.

import { ApiError, api, docPath, formatTime } from "./api.js";
import { diffText } from "./diff.js";

const KIND_NAMES = { auto: "Auto-saved", named: "Named", restore: "Restored" };
const CACHE_LIMIT = 64;

/**
 * @typedef {object} Version
 * @property {number} rev
 * @property {"auto" | "named" | "restore"} kind
 * @property {string | null} label
 * @property {string | null} author
 * @property {string} created_at
 */

/**
 * @param {string} id
 * @returns {HTMLElement}
 */
function $(id) {
  return /** @type {HTMLElement} */ (document.getElementById(id));
}

export class HistoryPanel {
  /**
   * @param {string} docId
   * @param {() => number | null} currentRev the revision the editor is at
   * @param {(message: string) => void} announce for screen readers
   */
  constructor(docId, currentRev, announce) {
    this.docId = docId;
    this._currentRev = currentRev;
    this._announce = announce;
    this.panel = $("history");
    this.toggleButton = /** @type {HTMLButtonElement} */ ($("history-toggle"));
    this.slider = /** @type {HTMLInputElement} */ ($("rev-slider"));
    this.view = $("rev-view");
    this.caption = $("rev-compare");
    this.restoreButton = /** @type {HTMLButtonElement} */ ($("restore-button"));
    this.dialog = /** @type {HTMLDialogElement} */ ($("restore-dialog"));
    this.list = $("versions");
    this.error = $("history-error");
    /** @type {Version[]} */
    this.versions = [];
    /** @type {Map<number, string>} */
    this._texts = new Map();
    this._shown = -1;
    this._request = 0;
    /** @type {any} */
    this._showTimer = undefined;
    /** @type {any} */
    this._refreshTimer = undefined;

    this.toggleButton.addEventListener("click", () => this.toggle());
    $("history-close").addEventListener("click", () => this.toggle(false));
    this.panel.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && !this.dialog.open) this.toggle(false);
    });
    this.slider.addEventListener("input", () => {
      this._syncSliderLabel();
      clearTimeout(this._showTimer);
      this._showTimer = setTimeout(() => this.show(Number(this.slider.value)), 80);
    });
    this.restoreButton.addEventListener("click", () => this._confirmRestore());
    this.dialog.addEventListener("close", () => {
      if (this.dialog.returnValue === "restore") this._restore(Number(this.dialog.dataset.rev));
    });
    $("name-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this._nameVersion();
    });
  }

  get isOpen() {
    return !this.panel.hidden;
  }

  /** @param {boolean} [open] */
  toggle(open = !this.isOpen) {
    this.panel.hidden = !open;
    this.toggleButton.setAttribute("aria-expanded", String(open));
    document.body.classList.toggle("history-open", open);
    if (open) {
      const rev = this._currentRev() ?? 0;
      this.slider.max = String(rev);
      this.slider.value = String(rev);
      this._syncSliderLabel();
      void this.refresh().then(() => this.show(rev));
      this.slider.focus();
    } else {
      this.toggleButton.focus();
    }
  }

  /** The document moved on: follow it when the slider was at the newest revision. */
  documentChanged() {
    if (!this.isOpen) return;
    const rev = this._currentRev();
    if (rev === null) return;
    const atNewest = this.slider.value === this.slider.max;
    this.slider.max = String(rev);
    if (atNewest && Number(this.slider.value) !== rev) {
      this.slider.value = String(rev);
      clearTimeout(this._showTimer);
      this._showTimer = setTimeout(() => this.show(rev), 300);
    }
    this._syncSliderLabel();
    clearTimeout(this._refreshTimer);
    this._refreshTimer = setTimeout(() => void this.refresh(), 2500); // after autosave had its chance
  }

  /** Load the list of saved versions. */
  async refresh() {
    try {
      this.versions = await api(`${docPath(this.docId)}/versions`);
      this._renderVersions();
      this._setError("");
    } catch (e) {
      this._setError(`Could not load the versions: ${/** @type {Error} */ (e).message}`);
    }
  }

  /**
   * Show the text at `rev` with the changes since the version before it.
   * @param {number} rev
   */
  async show(rev) {
    const request = ++this._request;
    const base = this._baseOf(rev);
    try {
      const [text, before] = await Promise.all([this._text(rev), base === null ? null : this._text(base.rev)]);
      if (request !== this._request) return; // the slider moved on
      this._render(rev, text, before, base);
      this._setError("");
    } catch (e) {
      if (request === this._request) this._setError(`Could not load revision ${rev}: ${/** @type {Error} */ (e).message}`);
    }
  }

  /**
   * What revision `rev` is compared with: the newest saved version before it,
   * or else the revision just before it.
   * @param {number} rev
   * @returns {{rev: number, version: Version | null} | null}
   */
  _baseOf(rev) {
    if (rev <= 0) return null;
    const saved = this.versions.filter((v) => v.rev < rev).sort((a, b) => b.rev - a.rev)[0];
    return saved ? { rev: saved.rev, version: saved } : { rev: rev - 1, version: null };
  }

  /**
   * @param {number} rev
   * @returns {Promise<string>}
   */
  async _text(rev) {
    const cached = this._texts.get(rev);
    if (cached !== undefined) return cached;
    const { text } = await api(`${docPath(this.docId)}/revisions/${rev}`);
    if (this._texts.size >= CACHE_LIMIT) this._texts.delete(this._texts.keys().next().value ?? -1);
    this._texts.set(rev, text);
    return text;
  }

  /**
   * @param {number} rev
   * @param {string} text
   * @param {string | null} before
   * @param {{rev: number, version: Version | null} | null} base
   */
  _render(rev, text, before, base) {
    this._shown = rev;
    this.view.dataset.rev = String(rev);
    this.view.setAttribute("aria-label", `Text at revision ${rev} (read-only)`);
    if (before === null || base === null) {
      this.view.replaceChildren(text);
      this.caption.textContent = rev === 0 ? "The document as it was created." : "";
    } else {
      const parts = diffText(before, text).map(([kind, s]) => {
        if (kind === 0) return s;
        const el = document.createElement(kind > 0 ? "mark" : "del");
        el.textContent = s;
        return el;
      });
      this.view.replaceChildren(...parts);
      const what = base.version === null ? `revision ${base.rev}` : `${describe(base.version)} (revision ${base.rev})`;
      this.caption.textContent = `Highlighted: changes since ${what}.`;
    }
    if (text === "") this.view.append(Object.assign(document.createElement("em"), { textContent: "(empty)" }));
    this._markShown();
    this.restoreButton.disabled = rev === Number(this.slider.max);
    this.restoreButton.textContent = `Restore revision ${rev}`;
  }

  _syncSliderLabel() {
    $("rev-label").textContent = this.slider.value;
    $("rev-max").textContent = this.slider.max;
    this.slider.setAttribute("aria-valuetext", `revision ${this.slider.value} of ${this.slider.max}`);
  }

  _renderVersions() {
    const items = this.versions.map((v) => {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "version";
      button.dataset.rev = String(v.rev);
      button.dataset.kind = v.kind;
      const title = document.createElement("span");
      title.className = "version-title";
      title.textContent = describe(v);
      const meta = document.createElement("span");
      meta.className = "version-meta";
      meta.textContent = [`rev ${v.rev}`, formatTime(v.created_at), v.author ? `by ${v.author}` : ""]
        .filter(Boolean)
        .join(" · ");
      button.append(title, meta);
      button.setAttribute("aria-label", `${describe(v)}, revision ${v.rev}, ${meta.textContent}: show it`);
      button.addEventListener("click", () => {
        this.slider.value = String(v.rev);
        this._syncSliderLabel();
        void this.show(v.rev);
      });
      li.append(button);
      return li;
    });
    if (items.length === 0) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = "No saved versions yet. Versions are saved when editing pauses.";
      items.push(li);
    }
    this.list.replaceChildren(...items);
    this._markShown();
  }

  /** Mark the saved versions at the revision on show. */
  _markShown() {
    for (const button of this.list.querySelectorAll("button.version")) {
      if (Number(/** @type {HTMLElement} */ (button).dataset.rev) === this._shown) button.setAttribute("aria-current", "true");
      else button.removeAttribute("aria-current");
    }
  }

  _confirmRestore() {
    const rev = this._shown;
    if (rev < 0) return;
    this.dialog.dataset.rev = String(rev);
    $("restore-dialog-rev").textContent = String(rev);
    this.dialog.returnValue = "";
    this.dialog.showModal();
  }

  /** @param {number} rev */
  async _restore(rev) {
    this.slider.focus(); // the restore button is disabled once the restored text is the newest
    const request = this._request;
    const value = this.slider.value;
    try {
      const { rev: now } = await api(`${docPath(this.docId)}/restore`, { method: "POST", body: { rev } });
      this._announce(`Restored revision ${rev} as revision ${now}.`);
      this.slider.max = String(Math.max(now, Number(this.slider.max)));
      await this.refresh();
      if (this._request === request && this.slider.value === value) {
        // Show the new revision, unless the slider was moved meanwhile.
        this.slider.value = String(now);
        this._syncSliderLabel();
        await this.show(now);
      }
    } catch (e) {
      this._setError(`Could not restore: ${/** @type {Error} */ (e).message}`);
    }
  }

  async _nameVersion() {
    const input = /** @type {HTMLInputElement} */ ($("version-label"));
    const label = input.value.trim();
    if (label === "") return;
    try {
      const v = await api(`${docPath(this.docId)}/versions`, { method: "POST", body: { label } });
      input.value = "";
      this._announce(`Named revision ${v.rev} “${label}”.`);
      await this.refresh();
    } catch (e) {
      const message = e instanceof ApiError ? e.message : String(e);
      this._setError(`Could not name the version: ${message}`);
    }
  }

  /** @param {string} message */
  _setError(message) {
    this.error.textContent = message;
    this.error.hidden = message === "";
  }
}

/**
 * @param {Version} v
 * @returns {string}
 */
function describe(v) {
  const kind = KIND_NAMES[v.kind] ?? v.kind;
  return v.label ? `“${v.label}”` : kind === "Named" ? "Named version" : `${kind} version`;
}
