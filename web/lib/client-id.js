// The client id (PROTOCOL §3 hello.client): random, and kept across
// reconnects and reloads of the same tab, because the server deduplicates
// operations by (client id, seq). sessionStorage is per tab, which is exactly
// that scope. Caveat: a browser's "duplicate tab" copies sessionStorage, so
// two tabs can start with one id; the server then closes the older session
// with 4409 and Connection stops there rather than fight over the id.

const KEY = "collab.clientId";
const VALID = /^[A-Za-z0-9_-]{1,64}$/;
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/**
 * A random client id: 22 characters of [A-Za-z0-9_-] (132 bits).
 * @returns {string}
 */
export function newClientId() {
  const bytes = new Uint8Array(22);
  if (globalThis.crypto?.getRandomValues) globalThis.crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  return Array.from(bytes, (b) => ALPHABET[b & 63]).join("");
}

/**
 * The id kept in `storage`, or a new one stored there. Works without storage
 * (or with storage that throws, as in some sandboxed frames): then every call
 * gives a new id.
 * @param {Pick<Storage, "getItem" | "setItem"> | null} storage
 * @returns {string}
 */
export function loadClientId(storage) {
  try {
    const kept = storage?.getItem(KEY);
    if (kept && VALID.test(kept)) return kept;
    const id = newClientId();
    storage?.setItem(KEY, id);
    return id;
  } catch {
    return newClientId();
  }
}

/**
 * The tab's sessionStorage when there is one and it may be used.
 * @returns {Pick<Storage, "getItem" | "setItem"> | null}
 */
export function tabStorage() {
  try {
    return globalThis.sessionStorage ?? null;
  } catch {
    return null;
  }
}
