// The start page: create a document, open one by id, and the recent ones
// (those on the server, and those this browser opened, remembered in
// localStorage).

import { api, formatTime } from "./api.js";
import { DOC_ID, localStore, recentDocs } from "./prefs.js";

/**
 * @param {string} id
 * @returns {any}
 */
const $ = (id) => document.getElementById(id);

/** @param {string} id */
function go(id) {
  location.assign(`/d/${encodeURIComponent(id)}`);
}

/**
 * @param {HTMLElement} el
 * @param {string} message
 */
function setError(el, message) {
  el.textContent = message;
  el.hidden = message === "";
}

$("create-form").addEventListener("submit", async (/** @type {SubmitEvent} */ e) => {
  e.preventDefault();
  const error = $("create-error");
  const id = $("create-id").value.trim();
  if (id !== "" && !DOC_ID.test(id)) return setError(error, "That is not a valid document id.");
  const button = $("create-form").querySelector("button");
  button.disabled = true;
  try {
    const doc = await api("/docs", { method: "POST", body: id === "" ? {} : { id } });
    go(doc.id);
  } catch (err) {
    const status = /** @type {any} */ (err).status;
    setError(error, status === 409 ? `“${id}” already exists: open it below, or pick another name.` : `Could not create the document: ${/** @type {Error} */ (err).message}`);
    if (status === 409) $("open-id").value = id;
    button.disabled = false;
  }
});

$("open-form").addEventListener("submit", (/** @type {SubmitEvent} */ e) => {
  e.preventDefault();
  const id = $("open-id").value.trim();
  if (DOC_ID.test(id)) go(id);
});

/**
 * @typedef {object} Row
 * @property {string} id
 * @property {number | null} rev
 * @property {number} updated ms since the epoch (0 when unknown)
 * @property {number | null} opened when this browser last opened it
 */

async function loadRecent() {
  const status = $("recent-status");
  /** @type {Map<string, Row>} */
  const rows = new Map();
  for (const { id, at } of recentDocs(localStore())) rows.set(id, { id, rev: null, updated: 0, opened: at });
  status.textContent = "Loading…";
  try {
    const docs = await api("/docs?limit=100");
    for (const d of docs) {
      const row = rows.get(d.id) ?? { id: d.id, rev: null, updated: 0, opened: null };
      row.rev = d.rev;
      row.updated = Date.parse(d.updated_at) || 0;
      rows.set(d.id, row);
    }
    status.textContent = rows.size === 0 ? "No documents yet: create one above." : "";
  } catch (err) {
    status.textContent = `Could not list the server's documents (${/** @type {Error} */ (err).message}); showing the ones opened in this browser.`;
  }
  const sorted = [...rows.values()].sort(
    (a, b) => Math.max(b.updated, b.opened ?? 0) - Math.max(a.updated, a.opened ?? 0) || a.id.localeCompare(b.id),
  );
  $("recent").replaceChildren(
    ...sorted.map((row) => {
      const li = document.createElement("li");
      const link = document.createElement("a");
      link.href = `/d/${encodeURIComponent(row.id)}`;
      link.textContent = row.id;
      const meta = document.createElement("span");
      meta.className = "muted small";
      meta.textContent = [
        row.rev === null ? "" : `${row.rev} revision${row.rev === 1 ? "" : "s"}`,
        row.updated ? `edited ${formatTime(row.updated)}` : "",
        row.opened ? `you opened it ${formatTime(row.opened)}` : "",
      ]
        .filter(Boolean)
        .join(" · ");
      li.append(link, meta);
      return li;
    }),
  );
}

$("recent-refresh").addEventListener("click", () => void loadRecent());
void loadRecent();
$("create-id").focus();
