// The HTTP API (PROTOCOL §4), as the pages use it.

import { localStore } from "./prefs.js";

/** An HTTP error with the server's `detail`. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} message
   */
  constructor(status, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

/**
 * A token for servers that require one (PROTOCOL §5), kept in localStorage
 * under "collab.token" by whoever hands tokens out; null in open mode.
 * @returns {string | null}
 */
export function storedToken() {
  try {
    return localStore()?.getItem("collab.token") || null;
  } catch {
    return null;
  }
}

/**
 * @param {string} path below /api
 * @param {{method?: string, body?: unknown, signal?: AbortSignal}} [options]
 * @returns {Promise<any>} the decoded JSON body (null for 204)
 * @throws {ApiError}
 */
export async function api(path, { method = "GET", body, signal } = {}) {
  /** @type {Record<string, string>} */
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const token = storedToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(`/api${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (e) {
    if (/** @type {any} */ (e)?.name === "AbortError") throw e;
    throw new ApiError(0, "the server cannot be reached");
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const detail = data?.detail;
    throw new ApiError(response.status, typeof detail === "string" ? detail : `HTTP ${response.status}`);
  }
  return data;
}

/**
 * @param {string} id
 * @returns {string} the path segment for a document
 */
export function docPath(id) {
  return `/docs/${encodeURIComponent(id)}`;
}

/**
 * A short local date and time.
 * @param {string | number | Date} when
 * @returns {string}
 */
export function formatTime(when) {
  const date = new Date(when);
  if (Number.isNaN(date.getTime())) return "";
  const sameDay = date.toDateString() === new Date().toDateString();
  return sameDay
    ? date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" })
    : date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}
