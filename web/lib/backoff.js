// Reconnect delays: exponential backoff with full jitter.
//
// The delay before retry number `attempt` (0 for the first) is drawn
// uniformly from [0, min(cap, base * 2^attempt)). Drawing from the whole
// interval ("full jitter") spreads out clients that lost their connection at
// the same moment, such as every tab when a server restarts.

/**
 * @typedef {object} BackoffOptions
 * @property {number} [base] ms, the ceiling of the first delay (default 500)
 * @property {number} [cap] ms, the largest ceiling (default 10000)
 * @property {() => number} [random] uniform in [0, 1) (default Math.random)
 */

/**
 * @param {number} attempt consecutive failed attempts so far, from 0
 * @param {BackoffOptions} [options]
 * @returns {number} ms to wait, an integer in [0, min(cap, base * 2^attempt))
 */
export function backoffDelay(attempt, { base = 500, cap = 10_000, random = Math.random } = {}) {
  const ceiling = Math.min(cap, base * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
