// The difference between two texts, for showing what a revision changed.
//
// Lines first, then characters (code points) within each changed block, with
// Myers' O(ND) algorithm bounded by a budget of edits: a block that differs
// more than that is shown as deleted and inserted whole. Good diffs for
// ordinary edits, and bounded time and memory for any input.

/** @typedef {[-1 | 0 | 1, string]} Segment  -1 deleted, 0 unchanged, 1 inserted */

const LINE_BUDGET = 1000;
const CHAR_BUDGET = 400;

/**
 * Myers' shortest edit script between two sequences, or null when it needs
 * more than `maxD` insertions and deletions.
 * @template T
 * @param {T[]} a
 * @param {T[]} b
 * @param {number} maxD
 * @returns {(-1 | 0 | 1)[] | null} one entry per element: 0 keep a[i]=b[j], -1 drop a[i], 1 take b[j]
 */
export function editScript(a, b, maxD) {
  const n = a.length;
  const m = b.length;
  const limit = Math.min(maxD, n + m);
  const off = limit + 1;
  const v = new Int32Array(2 * limit + 3);
  /** @type {Int32Array[]} v before each round d, the window [off-d-1, off+d+1] */
  const trace = [];
  for (let d = 0; d <= limit; d++) {
    trace.push(v.slice(off - d - 1, off + d + 2));
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[off + k - 1] < v[off + k + 1]) ? v[off + k + 1] : v[off + k - 1] + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[off + k] = x;
      if (x >= n && y >= m) return backtrack(trace, n, m, d);
    }
  }
  return null;
}

/**
 * @param {Int32Array[]} trace
 * @param {number} n
 * @param {number} m
 * @param {number} dEnd
 * @returns {(-1 | 0 | 1)[]}
 */
function backtrack(trace, n, m, dEnd) {
  /** @type {(-1 | 0 | 1)[]} */
  const script = [];
  let x = n;
  let y = m;
  for (let d = dEnd; d > 0; d--) {
    const w = trace[d]; // v before round d: index k maps to w[k + d + 1]
    const at = (/** @type {number} */ k) => w[k + d + 1];
    const k = x - y;
    const down = k === -d || (k !== d && at(k - 1) < at(k + 1));
    const prevK = down ? k + 1 : k - 1;
    const prevX = at(prevK);
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      script.push(0); // the snake after the move
      x--;
      y--;
    }
    script.push(down ? 1 : -1);
    if (down) y--;
    else x--;
  }
  while (x > 0 && y > 0) {
    script.push(0);
    x--;
    y--;
  }
  return script.reverse();
}

/**
 * @param {string} text
 * @returns {string[]} lines, each with its "\n"
 */
function splitLines(text) {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

/**
 * @param {Segment[]} out
 * @param {-1 | 0 | 1} kind
 * @param {string} text
 */
function push(out, kind, text) {
  if (text === "") return;
  const last = out[out.length - 1];
  if (last !== undefined && last[0] === kind) last[1] += text;
  else out.push([kind, text]);
}

/**
 * Character (code point) diff of one changed block.
 * @param {Segment[]} out
 * @param {string} a
 * @param {string} b
 */
function diffChars(out, a, b) {
  const x = Array.from(a);
  const y = Array.from(b);
  const script = editScript(x, y, CHAR_BUDGET);
  if (script === null) {
    push(out, -1, a);
    push(out, 1, b);
    return;
  }
  /** @type {Segment[]} */
  const block = [];
  let i = 0;
  let j = 0;
  for (const step of script) {
    if (step === 0) {
      push(block, 0, x[i++]);
      j++;
    } else if (step === -1) push(block, -1, x[i++]);
    else push(block, 1, y[j++]);
  }
  for (const [kind, text] of cleanup(block)) push(out, kind, text);
}

/**
 * Readable segments: an unchanged run no longer than the changes on both
 * sides of it ("s" and "d" shared by "first draft" and "second") becomes
 * part of them, and each run of changes is one deletion then one insertion
 * (diff-match-patch's semantic cleanup, simplified).
 * @param {Segment[]} segments
 * @returns {Segment[]}
 */
export function cleanup(segments) {
  let segs = segments;
  for (let changed = true; changed; ) {
    changed = false;
    for (let k = 1; k < segs.length - 1; k++) {
      if (segs[k][0] !== 0) continue;
      const size = segs[k][1].length;
      if (size <= editsAround(segs, k, -1) && size <= editsAround(segs, k, 1)) {
        segs = [...segs.slice(0, k), [-1, segs[k][1]], [1, segs[k][1]], ...segs.slice(k + 1)];
        changed = true;
        break;
      }
    }
    segs = regroup(segs);
  }
  return segs;
}

/**
 * The larger of the deleted and inserted lengths next to segment k, on one side.
 * @param {Segment[]} segs
 * @param {number} k
 * @param {-1 | 1} side
 * @returns {number}
 */
function editsAround(segs, k, side) {
  let deleted = 0;
  let inserted = 0;
  for (let m = k + side; m >= 0 && m < segs.length && segs[m][0] !== 0; m += side) {
    if (segs[m][0] < 0) deleted += segs[m][1].length;
    else inserted += segs[m][1].length;
  }
  return Math.max(deleted, inserted);
}

/**
 * Merge each run of changes into one deletion and one insertion.
 * @param {Segment[]} segs
 * @returns {Segment[]}
 */
function regroup(segs) {
  /** @type {Segment[]} */
  const out = [];
  let deleted = "";
  let inserted = "";
  for (const [kind, text] of segs) {
    if (kind < 0) deleted += text;
    else if (kind > 0) inserted += text;
    else {
      push(out, -1, deleted);
      push(out, 1, inserted);
      deleted = inserted = "";
      push(out, 0, text);
    }
  }
  push(out, -1, deleted);
  push(out, 1, inserted);
  return out;
}

/**
 * The segments that turn `a` into `b`: unchanged, deleted and inserted runs
 * in document order (a deletion before an insertion where both happen).
 * Joining the 0 and 1 segments gives b; joining the 0 and -1 segments gives a.
 * @param {string} a
 * @param {string} b
 * @returns {Segment[]}
 */
export function diffText(a, b) {
  /** @type {Segment[]} */
  const out = [];
  if (a === b) {
    push(out, 0, a);
    return out;
  }
  const la = splitLines(a);
  const lb = splitLines(b);
  const script = editScript(la, lb, LINE_BUDGET);
  if (script === null) {
    diffChars(out, a, b);
    return out;
  }
  let i = 0;
  let j = 0;
  let deleted = "";
  let inserted = "";
  const flush = () => {
    if (deleted !== "" || inserted !== "") diffChars(out, deleted, inserted);
    deleted = inserted = "";
  };
  for (const step of script) {
    if (step === 0) {
      flush();
      push(out, 0, la[i++]);
      j++;
    } else if (step === -1) deleted += la[i++];
    else inserted += lb[j++];
  }
  flush();
  return out;
}
