// What this browser remembers in localStorage: who the user is (name and
// colour, asked once or generated) and the documents opened recently.
// Every function takes the storage so that it can be tested without a
// browser; storage that is missing or throws (private modes) is tolerated.

const USER_KEY = "collab.user";
const RECENT_KEY = "collab.recent";
const RECENT_LIMIT = 30;

/** Colours for generated users, as #rrggbb: each carries white label text at WCAG AA (4.5:1). */
export const PALETTE = ["#c2185b", "#1565c0", "#2e7d32", "#bf360c", "#6a1b9a", "#00796b", "#b45309", "#3949ab", "#827717", "#6d4c41"];
const ANIMALS = ["Otter", "Heron", "Lynx", "Puffin", "Ibex", "Marten", "Gecko", "Wren", "Tapir", "Koala", "Newt", "Orca"];

const COLOR = /^#[0-9a-fA-F]{6}$/;

/** @typedef {{name: string, color: string}} User */
/** @typedef {Pick<Storage, "getItem" | "setItem">} KeyValue */

/**
 * @param {KeyValue | null} storage
 * @param {string} key
 * @returns {unknown}
 */
function read(storage, key) {
  try {
    const raw = storage?.getItem(key);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

/**
 * @param {KeyValue | null} storage
 * @param {string} key
 * @param {unknown} value
 */
function write(storage, key, value) {
  try {
    storage?.setItem(key, JSON.stringify(value));
  } catch {
    // full or forbidden: the page works without remembering
  }
}

/**
 * A user's name as the server accepts it: trimmed, at most 64 characters.
 * @param {unknown} name
 * @returns {string}
 */
export function cleanName(name) {
  return typeof name === "string" ? Array.from(name.trim()).slice(0, 64).join("") : "";
}

/**
 * @param {unknown} color
 * @returns {boolean}
 */
export function isColor(color) {
  return typeof color === "string" && COLOR.test(color);
}

/**
 * A colour for a peer that sent none, stable for its client id.
 * @param {string} id
 * @returns {string}
 */
export function colorFor(id) {
  let h = 0;
  for (let i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) >>> 0;
  return PALETTE[h % PALETTE.length];
}

/**
 * Label text for `color` (#rrggbb): white when it meets WCAG AA (4.5:1),
 * else black or white, whichever contrasts more.
 * @param {string} color
 * @returns {string}
 */
export function textOn(color) {
  const channel = (/** @type {number} */ i) => {
    const c = Number.parseInt(color.slice(i, i + 2), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const luminance = 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
  const white = 1.05 / (luminance + 0.05);
  const black = (luminance + 0.05) / 0.05;
  return white >= 4.5 || white >= black ? "#ffffff" : "#111111";
}

/**
 * @param {() => number} random
 * @returns {User}
 */
export function generateUser(random = Math.random) {
  const pick = (/** @type {string[]} */ list) => list[Math.floor(random() * list.length)];
  return { name: `${pick(ANIMALS)} ${100 + Math.floor(random() * 900)}`, color: pick(PALETTE) };
}

/**
 * The remembered user, or a generated one (remembered from now on).
 * @param {KeyValue | null} storage
 * @param {() => number} [random]
 * @returns {{user: User, generated: boolean}}
 */
export function loadUser(storage, random = Math.random) {
  const kept = /** @type {any} */ (read(storage, USER_KEY));
  if (kept && cleanName(kept.name) !== "" && isColor(kept.color)) {
    return { user: { name: cleanName(kept.name), color: kept.color.toLowerCase() }, generated: false };
  }
  const user = generateUser(random);
  write(storage, USER_KEY, user);
  return { user, generated: true };
}

/**
 * @param {KeyValue | null} storage
 * @param {User} user
 */
export function saveUser(storage, user) {
  write(storage, USER_KEY, { name: cleanName(user.name), color: user.color });
}

/**
 * Documents opened in this browser, most recent first.
 * @param {KeyValue | null} storage
 * @returns {{id: string, at: number}[]}
 */
export function recentDocs(storage) {
  const list = read(storage, RECENT_KEY);
  if (!Array.isArray(list)) return [];
  return list.filter((e) => e && typeof e.id === "string" && typeof e.at === "number");
}

/**
 * Remember that document `id` was opened at `at` (ms since the epoch).
 * @param {KeyValue | null} storage
 * @param {string} id
 * @param {number} at
 */
export function rememberDoc(storage, id, at) {
  const list = recentDocs(storage).filter((e) => e.id !== id);
  list.unshift({ id, at });
  write(storage, RECENT_KEY, list.slice(0, RECENT_LIMIT));
}

/** The document id pattern (PROTOCOL §2). */
export const DOC_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * localStorage when it may be used, else null.
 * @returns {KeyValue | null}
 */
export function localStore() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null;
  }
}
