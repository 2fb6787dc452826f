// The linearizability search over one partition: Wing & Gong's depth-first search for a linearization, with
// Lowe's memoization of configurations (the set of linearized operations, the model state), as in porcupine.
//
// Required operations (prepare.ts) form a time-ordered, doubly linked list of call and return events, a return
// being the operation's deadline. The operations that may take effect next are exactly those whose call comes
// before the first return in the list: nothing invoked after that first deadline can precede it. Taking one
// lifts its call and return out of the list (dancing links) and pushes a frame; a dead end pops the frame and
// relinks them, O(1) each. A configuration already visited (or dominated by one) is never explored again.
//
// Rules that cut the search without losing a linearization; each is sound because any linearization can be
// rewritten into one that obeys them all (docs/checkers.md gives the argument):
//   - forced steps: a required candidate that fits and, by its recorded outcome, never changes the state (a read,
//     a refused write) is placed at once with no alternative, so concurrent reads do not multiply the search;
//   - optional operations (unknown outcome, no deadline) are tried only after every required candidate, and
//     the search succeeds once every required operation is placed: those left over never took effect;
//   - an optional operation that would change nothing is not placed (that is the same as leaving it out);
//   - of interchangeable optional operations only the first free one is taken (prepare.ts);
//   - an unguarded optional set or delete is not taken when a twin guarded by the current version is free;
//   - an optional operation is taken only if its keys connect, through other available optional operations, to
//     a required candidate's keys: otherwise it commutes with everything until then and can wait;
//   - a configuration is pruned when a visited one has the same required set and state and a subset of its
//     optional operations placed: having more of them still available is never worse.

import { type Cells, type Operation, operationKeys, outcomesEqual, type Register, type Step, stepCells } from './model.ts';
import { operationClass, type SearchInput, type SearchOperation } from './prepare.ts';

/** How a partition's search ended. `deepest` is the longest linearization of a prefix that it found. */
export type SearchResult =
  | { readonly verdict: 'linearizable'; readonly configurations: number }
  | { readonly verdict: 'violation'; readonly configurations: number; readonly deepest: readonly SearchOperation[] }
  | { readonly verdict: 'budget'; readonly configurations: number; readonly deepest: readonly SearchOperation[] };

interface State {
  readonly cells: Cells;
  readonly hash: number;
}

interface Frame {
  /** `i >= 0`: required operation i; `-1 - j`: optional operation j. */
  readonly ref: number;
  /** The state before this step. */
  readonly state: State;
  readonly maxPlaced: number;
  readonly frontierMs: number;
  readonly relevantMask: number;
  /** Placed with no alternative (see #advanceForced): backtracking past it backtracks further. */
  readonly forced: boolean;
}

interface CacheEntry {
  readonly required: string;
  readonly cells: Cells;
  readonly optional: string;
}

const NIL = -1;

/** Recorded configurations scanned for one with fewer optional operations placed (see #seen). */
const dominanceScanMax = 16;

/** Searches for a linearization of one partition, visiting at most about `configurationsMax` configurations. */
export function searchPartition(input: SearchInput, configurationsMax: number): SearchResult {
  return new PartitionSearch(input, configurationsMax).run();
}

class PartitionSearch {
  readonly #required: readonly SearchOperation[];
  readonly #optional: readonly SearchOperation[];
  readonly #slotOf: (key: string) => number;
  readonly #configurationsMax: number;
  // Required operations' events: node 2i is i's call, 2i+1 its return (deadline), #head the sentinel.
  readonly #head: number;
  readonly #next: Int32Array;
  readonly #prev: Int32Array;
  // Optional operations not yet placed, by invocation; #optionalHead is the sentinel.
  readonly #optionalHead: number;
  readonly #optionalNext: Int32Array;
  readonly #optionalPrev: Int32Array;
  // Interchangeable optional operations form a class; members are placed in invocation order only, so the
  // placed members of a class are always its first #classTaken[class].
  readonly #optionalClass: Int32Array;
  readonly #optionalRank: Int32Array;
  readonly #classTaken: Int32Array;
  readonly #classMembers: readonly (readonly number[])[];
  /** For the class of an unguarded set or delete: the classes of its guarded twins, by guarding version. */
  readonly #twins: readonly (ReadonlyMap<number, number> | undefined)[];
  // Keys as bitmasks over slots (all ones when a partition has more than 31 keys: the key rule then prunes nothing).
  readonly #requiredMask: Int32Array;
  readonly #optionalMask: Int32Array;
  readonly #requiredBits: Uint32Array;
  readonly #optionalBits: Uint32Array;
  // Recorded configurations, by a hash of everything, and by a hash of the required set and state only.
  readonly #exact = new Map<number, CacheEntry[]>();
  readonly #similar = new Map<number, CacheEntry[]>();
  readonly #stack: Frame[] = [];
  #state: State;
  #requiredHash = 0;
  #optionalHash = 0;
  #maxPlaced = -1;
  #configurations = 0;
  // The cursor: which candidate to try next, among required operations first, then optional ones.
  #phase: 'forced' | 'required' | 'optional' | 'exhausted' = 'forced';
  #node: number;
  #optionalNode = NIL;
  #frontierMs = Number.POSITIVE_INFINITY;
  #relevantMask = -1;
  #placed = 0;
  #deepest: readonly Frame[] = [];
  #deepestPlaced = -1;

  constructor(input: SearchInput, configurationsMax: number) {
    this.#required = input.required;
    this.#optional = input.optional;
    const slots = new Map(input.keys.map((key, slot) => [key, slot]));
    this.#slotOf = (key) => slots.get(key) as number;
    this.#configurationsMax = configurationsMax;
    const n = input.required.length;
    this.#head = 2 * n;
    this.#next = new Int32Array(2 * n + 1).fill(NIL);
    this.#prev = new Int32Array(2 * n + 1).fill(NIL);
    linkInOrder(this.#head, eventOrder(input.required), this.#next, this.#prev);
    const u = input.optional.length;
    this.#optionalHead = u;
    this.#optionalNext = new Int32Array(u + 1).fill(NIL);
    this.#optionalPrev = new Int32Array(u + 1).fill(NIL);
    linkInOrder(u, Array.from({ length: u }, (_, j) => j), this.#optionalNext, this.#optionalPrev);
    const classes = classify(input.optional);
    this.#optionalClass = classes.classOf;
    this.#optionalRank = classes.rank;
    this.#classTaken = new Int32Array(classes.members.length);
    this.#classMembers = classes.members;
    this.#twins = twinClasses(input.optional, classes);
    const maskOf = keyMasks(input.keys);
    this.#requiredMask = Int32Array.from(input.required, ({ operation }) => maskOf(operation));
    this.#optionalMask = Int32Array.from(input.optional, ({ operation }) => maskOf(operation));
    this.#requiredBits = new Uint32Array(Math.ceil(n / 32));
    this.#optionalBits = new Uint32Array(Math.ceil(u / 32));
    this.#state = makeState(input.keys.map(() => null));
    this.#node = this.#next[this.#head] as number;
    this.#seen(this.#state, this.#maxPlaced);
  }

  run(): SearchResult {
    for (;;) {
      if (this.#next[this.#head] === NIL) return { verdict: 'linearizable', configurations: this.#configurations };
      if (this.#configurations > this.#configurationsMax) return this.#ending('budget');
      if (this.#advance()) continue;
      if (!this.#backtrack()) return this.#ending('violation');
    }
  }

  /** Tries the candidate under the cursor, or moves the cursor on; false when no candidate is left here. */
  #advance(): boolean {
    switch (this.#phase) {
      case 'forced':
        return this.#advanceForced();
      case 'required':
        return this.#advanceRequired();
      case 'optional':
        return this.#advanceOptional();
      case 'exhausted':
        return false;
    }
  }

  /**
   * A required candidate that fits and changes nothing can be placed now without losing any linearization
   * (moving it to the front of any later order keeps every other answer), so it is placed with no alternative:
   * if that leads nowhere, neither does this configuration. This keeps concurrent reads from multiplying.
   */
  #advanceForced(): boolean {
    const node = this.#node;
    if ((node & 1) === 1) {
      this.#phase = 'required';
      this.#node = this.#next[this.#head] as number;
      return true;
    }
    const i = node >> 1;
    const step = this.#stepRequired(i);
    if (step === null || !this.#isForced(i, step)) {
      this.#node = this.#next[node] as number;
      return true;
    }
    if (this.#placeRequired(i, this.#state, true)) this.#restartCursor();
    else this.#phase = 'exhausted';
    return true;
  }

  #advanceRequired(): boolean {
    const node = this.#node;
    if ((node & 1) === 1) {
      // The first return: no later call is a candidate. Its deadline bounds the optional candidates too.
      this.#frontierMs = (this.#required[node >> 1] as SearchOperation).deadlineMs;
      this.#relevantMask = this.#relevantKeys();
      this.#phase = 'optional';
      this.#optionalNode = this.#optionalNext[this.#optionalHead] as number;
      return true;
    }
    const i = node >> 1;
    const step = this.#stepRequired(i);
    // Forced steps were all taken by the forced phase.
    if (step !== null && !this.#isForced(i, step) && this.#placeRequired(i, this.#stateAfter(step), false)) {
      this.#restartCursor();
    } else this.#node = this.#next[node] as number;
    return true;
  }

  /**
   * Whether a fitting step needs no alternative: it changes nothing, and its recorded outcome says it never
   * changes anything. (An operation with an unknown outcome may do nothing here and something later.)
   */
  #isForced(i: number, step: Step): boolean {
    return step.cells === this.#state.cells && (this.#required[i] as SearchOperation).expected !== null;
  }

  #stateAfter(step: Step): State {
    return step.cells === this.#state.cells ? this.#state : makeState(step.cells);
  }

  #advanceOptional(): boolean {
    const j = this.#optionalNode;
    if (j === NIL || (this.#optional[j] as SearchOperation).indexed.entry.invokeMs > this.#frontierMs) return false;
    if (this.#tryOptional(j)) this.#restartCursor();
    else this.#optionalNode = this.#optionalNext[j] as number;
    return true;
  }

  #restartCursor(): void {
    this.#phase = 'forced';
    this.#node = this.#next[this.#head] as number;
  }

  /** The model's step for required operation i, or null when its answer differs from the recorded one. */
  #stepRequired(i: number): Step | null {
    const candidate = this.#required[i] as SearchOperation;
    const step = stepCells(this.#state.cells, this.#slotOf, candidate.operation);
    return candidate.expected === null || outcomesEqual(step.outcome, candidate.expected) ? step : null;
  }

  /** Places required operation i, leading to `state`, unless that configuration was seen; true if placed. */
  #placeRequired(i: number, state: State, forced: boolean): boolean {
    const maxPlaced = Math.max(this.#maxPlaced, i);
    this.#toggleRequired(i);
    if (this.#seen(state, maxPlaced)) {
      this.#toggleRequired(i);
      return false;
    }
    this.#push(i, state, forced);
    this.#maxPlaced = maxPlaced;
    this.#placed++;
    return true;
  }

  #tryOptional(j: number): boolean {
    if (this.#optionalRank[j] !== this.#classTaken[this.#optionalClass[j] as number]) return false;
    if (((this.#optionalMask[j] as number) & this.#relevantMask) === 0) return false;
    const operation = (this.#optional[j] as SearchOperation).operation;
    if (this.#hasGuardedTwin(j, operation)) return false;
    const cells = stepCells(this.#state.cells, this.#slotOf, operation).cells;
    // No effect here: placing it is the same as leaving it out.
    if (cells === this.#state.cells) return false;
    const state = makeState(cells);
    this.#toggleOptional(j);
    if (this.#seen(state, this.#maxPlaced)) {
      this.#toggleOptional(j);
      return false;
    }
    this.#push(-1 - j, state, false);
    return true;
  }

  #push(ref: number, state: State, forced: boolean): void {
    const saved = { maxPlaced: this.#maxPlaced, frontierMs: this.#frontierMs, relevantMask: this.#relevantMask };
    this.#stack.push({ ref, state: this.#state, forced, ...saved });
    this.#state = state;
    this.#configurations++;
  }

  /** Undoes the last step and resumes the cursor just after it; false when there is nothing to undo. */
  #backtrack(): boolean {
    this.#noteDepth();
    const frame = this.#stack.pop();
    if (frame === undefined) return false;
    this.#state = frame.state;
    this.#maxPlaced = frame.maxPlaced;
    this.#frontierMs = frame.frontierMs;
    this.#relevantMask = frame.relevantMask;
    if (frame.ref >= 0) {
      this.#placed--;
      this.#toggleRequired(frame.ref);
      this.#phase = frame.forced ? 'exhausted' : 'required';
      this.#node = this.#next[2 * frame.ref] as number;
    } else {
      const j = -1 - frame.ref;
      this.#toggleOptional(j);
      this.#phase = 'optional';
      this.#optionalNode = this.#optionalNext[j] as number;
    }
    return true;
  }

  /**
   * The keys an optional operation placed now could matter to: those of the required candidates, closed over
   * the keys of available optional operations that touch them. An optional operation whose keys are disjoint
   * from these commutes with everything up to the next required operation, so it can wait until later.
   */
  #relevantKeys(): number {
    let mask = 0;
    for (let node = this.#next[this.#head] as number; (node & 1) === 0; node = this.#next[node] as number) {
      mask |= this.#requiredMask[node >> 1] as number;
    }
    for (let grown = true; grown; ) {
      grown = false;
      for (let j = this.#optionalNext[this.#optionalHead] as number; j !== NIL; j = this.#optionalNext[j] as number) {
        if ((this.#optional[j] as SearchOperation).indexed.entry.invokeMs > this.#frontierMs) break;
        const keys = this.#optionalMask[j] as number;
        if ((keys & mask) === 0 || (keys & ~mask) === 0) continue;
        mask |= keys;
        grown = true;
      }
    }
    return mask;
  }

  /**
   * Whether an unguarded set or delete has a free twin guarded by the key's current version. Both have the same
   * effect here, and the unguarded one can stand in for the guarded one anywhere later, never the reverse: so
   * taking the guarded one now loses nothing.
   */
  #hasGuardedTwin(j: number, operation: Operation): boolean {
    const twins = this.#twins[this.#optionalClass[j] as number];
    if (twins === undefined || (operation.op !== 'set' && operation.op !== 'delete')) return false;
    const register = this.#state.cells[this.#slotOf(operation.key)] ?? null;
    const klass = register === null ? undefined : twins.get(register.version);
    if (klass === undefined) return false;
    const twin = this.#classMembers[klass]?.[this.#classTaken[klass] as number];
    return twin !== undefined && (this.#optional[twin] as SearchOperation).indexed.entry.invokeMs <= this.#frontierMs;
  }

  /** Places or unplaces required operation i: flips its bit, its share of the hash, and its two list nodes. */
  #toggleRequired(i: number): void {
    const placed = flip(this.#requiredBits, i);
    this.#requiredHash ^= mix32(i + 1);
    if (placed) {
      unlink(2 * i, this.#next, this.#prev);
      unlink(2 * i + 1, this.#next, this.#prev);
    } else {
      // Relink in the reverse order of the unlink, so the neighbours' saved pointers are valid again.
      relink(2 * i + 1, this.#next, this.#prev);
      relink(2 * i, this.#next, this.#prev);
    }
  }

  #toggleOptional(j: number): void {
    const placed = flip(this.#optionalBits, j);
    this.#optionalHash ^= mix32(j + 0x51ed27);
    const klass = this.#optionalClass[j] as number;
    this.#classTaken[klass] = (this.#classTaken[klass] as number) + (placed ? 1 : -1);
    if (placed) unlink(j, this.#optionalNext, this.#optionalPrev);
    else relink(j, this.#optionalNext, this.#optionalPrev);
  }

  /**
   * Whether the current configuration (with `state`) is dominated by a recorded one; records it if not. Every
   * required op below the first call in the list is placed, so the required set is encoded from that op's word
   * up to the highest placed op: a few words, whatever the history's length. An equal configuration is found in
   * O(1); one with a subset of the optional operations placed is looked for among the latest few recorded with
   * the same required set and state (a bounded scan: missing a dominating entry costs time, never correctness).
   */
  #seen(state: State, maxPlaced: number): boolean {
    const first = this.#next[this.#head] as number;
    const lowest = first === NIL ? this.#required.length : first >> 1;
    const required = encodeWords(this.#requiredBits, lowest >> 5, maxPlaced >> 5);
    const optional = this.#optional.length === 0 ? '' : encodeWords(this.#optionalBits, 0, this.#optionalBits.length - 1);
    const similarKey = mix32(this.#requiredHash ^ Math.imul(state.hash, 0x9e3779b1));
    const exactKey = mix32(similarKey ^ this.#optionalHash);
    const exact = this.#exact.get(exactKey);
    const same = (entry: CacheEntry): boolean => entry.required === required && cellsEqual(entry.cells, state.cells);
    if (exact?.some((entry) => entry.optional === optional && same(entry))) return true;
    const similar = this.#similar.get(similarKey);
    if (similar !== undefined && this.#optional.length > 0) {
      for (let k = similar.length - 1; k >= Math.max(0, similar.length - dominanceScanMax); k--) {
        const entry = similar[k] as CacheEntry;
        if (isSubset(entry.optional, optional) && same(entry)) return true;
      }
    }
    const entry = { required, cells: state.cells, optional };
    append(this.#exact, exactKey, entry);
    append(this.#similar, similarKey, entry);
    return false;
  }

  /** Keeps the deepest path seen (by required operations placed): the explanation of a failure starts there. */
  #noteDepth(): void {
    if (this.#placed <= this.#deepestPlaced) return;
    this.#deepestPlaced = this.#placed;
    // Optional operations after the last required one explain nothing: leave them out of the prefix.
    let end = this.#stack.length;
    while (end > 0 && (this.#stack[end - 1] as Frame).ref < 0) end--;
    this.#deepest = this.#stack.slice(0, end);
  }

  #ending(verdict: 'budget' | 'violation'): SearchResult {
    if (verdict === 'budget') this.#noteDepth();
    const deepest = this.#deepest.map((frame) =>
      frame.ref >= 0 ? (this.#required[frame.ref] as SearchOperation) : (this.#optional[-1 - frame.ref] as SearchOperation),
    );
    return { verdict, configurations: this.#configurations, deepest };
  }
}

/** Maps an operation to the bitmask of its keys' slots; every bit set when there are too many keys for a mask. */
function keyMasks(keys: readonly string[]): (operation: Operation) => number {
  if (keys.length > 31) return () => -1;
  const bits = new Map(keys.map((key, slot) => [key, 1 << slot]));
  return (operation) => operationKeys(operation).reduce((mask, key) => mask | (bits.get(key) ?? 0), 0);
}

/** For each class of unguarded sets or deletes, the classes of the same operation guarded by each version. */
function twinClasses(optional: readonly SearchOperation[], classes: Classes): (Map<number, number> | undefined)[] {
  const twins: (Map<number, number> | undefined)[] = classes.members.map(() => undefined);
  for (const members of classes.members) {
    const operation = (optional[members[0] as number] as SearchOperation).operation;
    if ((operation.op !== 'set' && operation.op !== 'delete') || operation.expectedVersion === undefined) continue;
    const { expectedVersion, ...unguarded } = operation;
    const plain = classes.ids.get(operationClass(unguarded));
    if (plain === undefined) continue;
    const byVersion = twins[plain] ?? new Map<number, number>();
    byVersion.set(expectedVersion, classes.classOf[members[0] as number] as number);
    twins[plain] = byVersion;
  }
  return twins;
}

interface Classes {
  readonly classOf: Int32Array;
  readonly rank: Int32Array;
  readonly ids: ReadonlyMap<string, number>;
  /** Members of each class, by invocation. */
  readonly members: readonly (readonly number[])[];
}

/** Numbers the classes of interchangeable optional operations, and each member's rank within its class. */
function classify(optional: readonly SearchOperation[]): Classes {
  const ids = new Map<string, number>();
  const members: number[][] = [];
  const classOf = new Int32Array(optional.length);
  const rank = new Int32Array(optional.length);
  optional.forEach(({ operation }, j) => {
    const key = operationClass(operation);
    const id = ids.get(key) ?? members.length;
    if (id === members.length) {
      ids.set(key, id);
      members.push([]);
    }
    const list = members[id] as number[];
    classOf[j] = id;
    rank[j] = list.length;
    list.push(j);
  });
  return { classOf, rank, ids, members };
}

/** Call and return events in time order; at equal times calls first, so touching operations count as concurrent. */
function eventOrder(required: readonly SearchOperation[]): number[] {
  const nodes = required.flatMap((_, i) => [2 * i, 2 * i + 1]);
  const time = (node: number): number => {
    const operation = required[node >> 1] as SearchOperation;
    return (node & 1) === 0 ? operation.indexed.entry.invokeMs : operation.deadlineMs;
  };
  return nodes.sort((a, b) => time(a) - time(b) || (a & 1) - (b & 1) || a - b);
}

function append<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

function linkInOrder(head: number, order: readonly number[], next: Int32Array, prev: Int32Array): void {
  let last = head;
  for (const node of order) {
    next[last] = node;
    prev[node] = last;
    last = node;
  }
  next[last] = NIL;
}

function unlink(node: number, next: Int32Array, prev: Int32Array): void {
  const before = prev[node] as number;
  const after = next[node] as number;
  next[before] = after;
  if (after !== NIL) prev[after] = before;
}

function relink(node: number, next: Int32Array, prev: Int32Array): void {
  const before = prev[node] as number;
  const after = next[node] as number;
  next[before] = node;
  if (after !== NIL) prev[after] = node;
}

/** Flips bit `i`; true when it is now set. */
function flip(bits: Uint32Array, i: number): boolean {
  const word = i >> 5;
  const bit = 1 << (i & 31);
  bits[word] = (bits[word] as number) ^ bit;
  return ((bits[word] as number) & bit) !== 0;
}

function makeState(cells: Cells): State {
  let hash = 0x811c9dc5;
  for (const register of cells) hash = Math.imul(hash ^ registerHash(register), 0x01000193);
  return { cells, hash: mix32(hash) };
}

function registerHash(register: Register | null): number {
  if (register === null) return 0x2545f491;
  let hash = Math.imul(register.version + 1, 0x27d4eb2d);
  for (let k = 0; k < register.value.length; k++) hash = Math.imul(hash ^ register.value.charCodeAt(k), 0x01000193);
  return hash;
}

function cellsEqual(a: Cells, b: Cells): boolean {
  if (a === b) return true;
  for (let slot = 0; slot < a.length; slot++) {
    const x = a[slot] ?? null;
    const y = b[slot] ?? null;
    if (x === y) continue;
    if (x === null || y === null || x.version !== y.version || x.value !== y.value) return false;
  }
  return true;
}

/** Words `from..to` of a bitset as a string (two UTF-16 units a word), prefixed by `from`: cheap to compare. */
function encodeWords(bits: Uint32Array, from: number, to: number): string {
  let text = String.fromCharCode(from & 0xffff, from >>> 16);
  for (let word = from; word <= to; word++) {
    const value = bits[word] as number;
    text += String.fromCharCode(value & 0xffff, value >>> 16);
  }
  return text;
}

/** Whether the optional set `a` is a subset of `b` (same encoding, same length). */
function isSubset(a: string, b: string): boolean {
  for (let k = 2; k < a.length; k++) {
    if ((a.charCodeAt(k) & ~b.charCodeAt(k)) !== 0) return false;
  }
  return true;
}

/** murmur3's finalizer over a golden-ratio multiply: a cheap, well-spread 32-bit mix. */
function mix32(value: number): number {
  let h = Math.imul(value, 0x9e3779b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
