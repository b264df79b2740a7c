// The editor page, /d/{doc_id}: wires the connection to the textarea, the
// remote carets, the presence list, the connection badge, undo/redo, the
// user's name and the history panel.

import { Connection, ConnectionStatus } from "../lib/connection.js";
import { storedToken } from "./api.js";
import { TextareaBinding } from "./binding.js";
import { HistoryPanel } from "./history.js";
import { RemoteCarets } from "./overlay.js";
import { DOC_ID, cleanName, colorFor, isColor, loadUser, localStore, rememberDoc, saveUser } from "./prefs.js";
import { UndoManager } from "./undo.js";

/**
 * @param {string} id
 * @returns {any}
 */
const $ = (id) => document.getElementById(id);

const docId = documentIdFromPath(location.pathname);
const textarea = /** @type {HTMLTextAreaElement} */ ($("editor"));
const announcer = $("announcer");

/**
 * @param {string} path /d/{doc_id}
 * @returns {string} the id ("" when the path is not even decodable)
 */
function documentIdFromPath(path) {
  try {
    return decodeURIComponent(path.replace(/^\/d\//, "").replace(/\/+$/, ""));
  } catch {
    return "";
  }
}

/** @param {string} message */
function announce(message) {
  // Cleared first, so that the same message twice is announced twice.
  announcer.textContent = "";
  requestAnimationFrame(() => (announcer.textContent = message));
}

/** @param {string} message */
function showBanner(message) {
  const banner = $("banner");
  banner.textContent = message;
  banner.hidden = message === "";
}

if (!DOC_ID.test(docId)) {
  document.title = "No such document — collab";
  $("doc-title").textContent = "Not a document id";
  showBanner(`“${docId}” is not a document id. Ids are 1–128 letters, digits, “.”, “_” or “-”, starting with a letter or digit.`);
  textarea.disabled = true;
} else {
  start();
}

function start() {
  const store = localStore();
  const { user: stored, generated } = loadUser(store);
  /** The user object the connection says hello with (changed in place when renamed). */
  const user = { ...stored };
  rememberDoc(store, docId, Date.now());
  document.title = `${docId} — collab`;
  $("doc-title").textContent = docId;

  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const connection = new Connection({
    url: `${scheme}://${location.host}/ws/${encodeURIComponent(docId)}`,
    user,
    token: storedToken,
  });
  const undo = new UndoManager();
  const carets = new RemoteCarets(textarea);
  const binding = new TextareaBinding(textarea, connection, undo, scheduleRender);
  const history = new HistoryPanel(docId, () => connection.rev, announce);

  // ---- drawing, once per frame --------------------------------------------------

  let frame = 0;
  function scheduleRender() {
    if (frame === 0) frame = requestAnimationFrame(render);
  }
  function render() {
    frame = 0;
    if (binding.settled) {
      const view = binding.view;
      const peers = connection.peers.map((p) => ({
        ...p,
        selection: p.selection && p.selection.map(([a, h]) => [view.fromCodePoint(a), view.fromCodePoint(h)]),
      }));
      carets.render(/** @type {any} */ (peers), view.display);
    }
    $("undo").disabled = !undo.canUndo;
    $("redo").disabled = !undo.canRedo;
  }
  textarea.addEventListener("scroll", scheduleRender, { passive: true });
  new ResizeObserver(scheduleRender).observe(textarea);
  document.fonts?.ready.then(scheduleRender);

  // ---- presence ----------------------------------------------------------------

  function renderPresence() {
    const me = { client: connection.clientId, user, you: true };
    const people = [me, ...connection.peers.map((p) => ({ ...p, you: false }))];
    $("presence").replaceChildren(
      ...people.map(({ client, user: who, you }) => {
        const li = document.createElement("li");
        li.dataset.client = client;
        const dot = document.createElement("span");
        dot.className = "dot";
        dot.style.background = isColor(who.color) ? who.color : colorFor(client);
        const name = document.createElement("span");
        name.className = "name";
        name.textContent = cleanName(who.name) || "Anonymous";
        li.append(dot, name);
        if (you) li.append(Object.assign(document.createElement("span"), { className: "you", textContent: "(you)" }));
        return li;
      }),
    );
    $("presence-count").textContent = String(people.length);
    scheduleRender();
  }
  for (const type of ["join", "leave", "presence"]) connection.on(type, renderPresence);

  // ---- connection badge ----------------------------------------------------------

  let everConnected = false;
  /** @type {string | null} why the connection stopped for good */
  let stopped = null;
  let lastState = "";
  function renderStatus() {
    const { status, unsent } = connection;
    if (status === ConnectionStatus.CONNECTED) everConnected = true;
    let state = "connecting";
    let text = "Connecting…";
    if (status === ConnectionStatus.CONNECTED) [state, text] = ["connected", "Connected"];
    else if (stopped !== null || !navigator.onLine) [state, text] = ["offline", "Offline"];
    else if (everConnected) [state, text] = ["reconnecting", "Reconnecting…"];
    const badge = $("status");
    badge.dataset.status = state;
    badge.dataset.unsent = String(unsent);
    $("status-text").textContent = text;
    $("status-unsent").textContent =
      state !== "connected" && unsent > 0 ? ` · ${unsent} unsent edit${unsent === 1 ? "" : "s"}` : "";
    badge.title = stopped ?? (unsent > 0 ? `${unsent} edits not yet saved on the server` : "All edits saved");
    if (state !== lastState) {
      if (lastState !== "") announce(text === "Connected" ? "Connected: edits are saved." : text);
      lastState = state;
    }
  }
  connection.on("status", () => {
    renderStatus();
    history.documentChanged();
  });
  connection.on("change", () => history.documentChanged());
  connection.on("reset", () => {
    renderPresence();
    history.documentChanged();
  });
  connection.on("error", (e) => {
    if (e.fatal) {
      stopped = `Disconnected: ${e.message}`;
      binding.freeze();
      const unsent = connection.unsent;
      const lost = unsent > 0 ? ` ${unsent} edit${unsent === 1 ? " was" : "s were"} not saved.` : "";
      showBanner(`${stopped}.${lost} Reload the page to continue.`);
      renderStatus();
    } else if (e.discarded) {
      showBanner(`The server refused an edit (${e.code}): ${e.discarded} unsaved edit(s) were dropped and the document reloaded.`);
    }
  });
  /** Start a fresh connection attempt now (local work is kept; retries follow). */
  function reconnect() {
    if (stopped !== null) return;
    connection.close();
    connection.connect();
  }
  // Back online: retry at once rather than when the backoff says so.
  window.addEventListener("online", () => {
    if (connection.status !== ConnectionStatus.CONNECTED) reconnect();
    renderStatus();
  });
  // Offline: the socket is most likely dead, but noticing would take a ping timeout.
  window.addEventListener("offline", () => {
    reconnect();
    renderStatus();
  });

  // ---- toolbar -------------------------------------------------------------------

  $("undo").addEventListener("click", () => binding.undoStep());
  $("redo").addEventListener("click", () => binding.redoStep());

  // ---- the user's name and colour ------------------------------------------------

  const dialog = /** @type {HTMLDialogElement} */ ($("user-dialog"));
  const nameInput = /** @type {HTMLInputElement} */ ($("user-name"));
  const colorInput = /** @type {HTMLInputElement} */ ($("user-color"));
  function renderUserButton() {
    $("user-dot").style.background = user.color;
    $("user-label").textContent = user.name;
    $("user-button").setAttribute("aria-label", `You are ${user.name}: change your name or colour`);
  }
  function askUser() {
    nameInput.value = user.name;
    colorInput.value = user.color;
    dialog.returnValue = "";
    dialog.showModal();
  }
  $("user-button").addEventListener("click", askUser);
  dialog.addEventListener("close", () => {
    const name = cleanName(nameInput.value);
    if (dialog.returnValue !== "save" || name === "") return textarea.focus();
    const changed = name !== user.name || colorInput.value !== user.color;
    Object.assign(user, { name, color: isColor(colorInput.value) ? colorInput.value.toLowerCase() : user.color });
    saveUser(store, user);
    renderUserButton();
    renderPresence();
    if (changed) reconnect(); // the hello carries the user: say hello again
    textarea.focus();
  });

  // ---- go ------------------------------------------------------------------------

  renderUserButton();
  renderPresence();
  renderStatus();
  connection.connect();
  if (generated) askUser();
  else textarea.focus();

  // For the browser tests and for poking around in the console.
  Object.assign(window, {
    __collab: {
      connection,
      binding,
      undo,
      carets,
      history,
    },
  });
}
