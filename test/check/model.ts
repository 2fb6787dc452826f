// The sequential specification the checkers hold Synod to: a map from keys to versioned registers, as a test
// client sees Synod's tree. All types are plain data, so histories round-trip through JSON files.

/** A present key: its value, and its version (0 at creation, +1 on each successful set). */
export interface Register {
  readonly value: string;
  readonly version: number;
}

/** Reads a key: `{ found: false }` when absent. */
export interface GetOperation {
  readonly op: 'get';
  readonly key: string;
}

/** Creates an absent key at version 0; fails with `exists` when the key is present. */
export interface CreateOperation {
  readonly op: 'create';
  readonly key: string;
  readonly value: string;
}

/** Overwrites a present key; fails with `not_found`, or `bad_version` when `expectedVersion` is given and differs. */
export interface SetOperation {
  readonly op: 'set';
  readonly key: string;
  readonly value: string;
  readonly expectedVersion?: number;
}

/** Removes a present key; fails with `not_found`, or `bad_version` when `expectedVersion` is given and differs. */
export interface DeleteOperation {
  readonly op: 'delete';
  readonly key: string;
  readonly expectedVersion?: number;
}

/** The operations a transaction branch may hold; each sees the effects of the ones before it. */
export type SubOperation = GetOperation | CreateOperation | SetOperation | DeleteOperation;

/** Compare operators. On booleans (`exists`) false < true; strings compare by UTF-16 code units. */
export type CompareOperator = '=' | '!=' | '<' | '>';

/**
 * A transaction guard, with Synod's (and etcd's) semantics: on an absent key `exists` is false, `version`
 * compares as 0, and every `value` compare is false whatever the operator (`!=` included).
 */
export type Compare =
  | { readonly key: string; readonly target: 'exists'; readonly op: CompareOperator; readonly value: boolean }
  | { readonly key: string; readonly target: 'version'; readonly op: CompareOperator; readonly value: number }
  | { readonly key: string; readonly target: 'value'; readonly op: CompareOperator; readonly value: string };

/** If every compare holds run `success`, else `failure`; atomic: a failing sub-operation undoes the whole txn. */
export interface TxnOperation {
  readonly op: 'txn';
  readonly compares: readonly Compare[];
  readonly success: readonly SubOperation[];
  readonly failure: readonly SubOperation[];
}

/** Every operation a history may hold. */
export type Operation = SubOperation | TxnOperation;

/** The errors that mean "had no effect". */
export type ErrorCode = 'exists' | 'not_found' | 'bad_version';

/** What a successful get returns. */
export type GetResult =
  | { readonly op: 'get'; readonly found: false }
  | { readonly op: 'get'; readonly found: true; readonly value: string; readonly version: number };

/** A successful create (the new key is at version 0). */
export interface CreateResult {
  readonly op: 'create';
}

/** A successful set, with the version it wrote. */
export interface SetResult {
  readonly op: 'set';
  readonly version: number;
}

/** A successful delete. */
export interface DeleteResult {
  readonly op: 'delete';
}

/** The result of one sub-operation; `op` names the operation it answers. */
export type SubResult = GetResult | CreateResult | SetResult | DeleteResult;

/** A transaction that ran to the end: which branch ran, and one result per sub-operation of that branch. */
export interface TxnResult {
  readonly op: 'txn';
  readonly succeeded: boolean;
  readonly results: readonly SubResult[];
}

/** The result of a successful operation. */
export type Result = SubResult | TxnResult;

/**
 * What the model answers. A txn's error carries `opIndex`, the failing sub-operation's place in the branch that
 * ran; a single operation's error carries none.
 */
export type ModelOutcome =
  | { readonly status: 'ok'; readonly result: Result }
  | { readonly status: 'error'; readonly error: ErrorCode; readonly opIndex?: number };

/** One register per slot (null: absent). The checker numbers a partition's keys and keeps its state this way. */
export type Cells = readonly (Register | null)[];

/** Resolves a key to its slot in `Cells`; every key an operation touches must have one. */
export type SlotOf = (key: string) => number;

/** The model's answer to one operation, and the cells after it (the same array when nothing changed). */
export interface Step {
  readonly outcome: ModelOutcome;
  readonly cells: Cells;
}

type SubStep =
  | { readonly ok: true; readonly result: SubResult; readonly register: Register | null }
  | { readonly ok: false; readonly error: ErrorCode };

/** Applies `operation` to `cells`. Pure: never mutates its input. */
export function stepCells(cells: Cells, slotOf: SlotOf, operation: Operation): Step {
  if (operation.op === 'txn') return stepTxn(cells, slotOf, operation);
  const slot = slotOf(operation.key);
  const sub = stepSub(cells[slot] ?? null, operation);
  if (!sub.ok) return { outcome: { status: 'error', error: sub.error }, cells };
  return { outcome: { status: 'ok', result: sub.result }, cells: withRegister(cells, slot, sub.register) };
}

/** Applies `operation` to a state kept as a map of present keys; the convenient form for tests and tools. */
export function applyOperation(
  state: ReadonlyMap<string, Register>,
  operation: Operation,
): { readonly outcome: ModelOutcome; readonly state: ReadonlyMap<string, Register> } {
  const keys = operationKeys(operation);
  const cells = keys.map((key) => state.get(key) ?? null);
  const step = stepCells(cells, (key) => keys.indexOf(key), operation);
  if (step.cells === cells) return { outcome: step.outcome, state };
  const next = new Map(state);
  keys.forEach((key, slot) => {
    const register = step.cells[slot] ?? null;
    if (register === null) next.delete(key);
    else next.set(key, register);
  });
  return { outcome: step.outcome, state: next };
}

/** The distinct keys an operation reads or writes, in order of first mention. */
export function operationKeys(operation: Operation): readonly string[] {
  if (operation.op !== 'txn') return [operation.key];
  const keys = new Set<string>();
  for (const compare of operation.compares) keys.add(compare.key);
  for (const sub of operation.success) keys.add(sub.key);
  for (const sub of operation.failure) keys.add(sub.key);
  return [...keys];
}

/** Whether an operation can never change the state (gets only); such an op with an unknown outcome says nothing. */
export function isReadOnly(operation: Operation): boolean {
  if (operation.op !== 'txn') return operation.op === 'get';
  return operation.success.every((sub) => sub.op === 'get') && operation.failure.every((sub) => sub.op === 'get');
}

/** Whether the model's answer is exactly the recorded one. */
export function outcomesEqual(a: ModelOutcome, b: ModelOutcome): boolean {
  if (a.status === 'error') return b.status === 'error' && a.error === b.error && a.opIndex === b.opIndex;
  return b.status === 'ok' && resultsEqual(a.result, b.result);
}

/** Field-by-field equality of two results. */
export function resultsEqual(a: Result, b: Result): boolean {
  switch (a.op) {
    case 'get':
      if (b.op !== 'get' || a.found !== b.found) return false;
      return !a.found || (b.found && a.value === b.value && a.version === b.version);
    case 'create':
    case 'delete':
      return b.op === a.op;
    case 'set':
      return b.op === 'set' && a.version === b.version;
    case 'txn':
      return (
        b.op === 'txn' &&
        a.succeeded === b.succeeded &&
        a.results.length === b.results.length &&
        a.results.every((result, i) => resultsEqual(result, b.results[i] as SubResult))
      );
  }
}

function stepTxn(cells: Cells, slotOf: SlotOf, txn: TxnOperation): Step {
  const succeeded = txn.compares.every((compare) => holds(cells[slotOf(compare.key)] ?? null, compare));
  const branch = succeeded ? txn.success : txn.failure;
  let working = cells;
  const results: SubResult[] = [];
  for (const [opIndex, sub] of branch.entries()) {
    const slot = slotOf(sub.key);
    const step = stepSub(working[slot] ?? null, sub);
    // Atomicity: the first failure discards every earlier effect of the branch.
    if (!step.ok) return { outcome: { status: 'error', error: step.error, opIndex }, cells };
    working = withRegister(working, slot, step.register);
    results.push(step.result);
  }
  return { outcome: { status: 'ok', result: { op: 'txn', succeeded, results } }, cells: working };
}

function stepSub(register: Register | null, sub: SubOperation): SubStep {
  switch (sub.op) {
    case 'get':
      if (register === null) return { ok: true, result: { op: 'get', found: false }, register };
      return { ok: true, result: { op: 'get', found: true, value: register.value, version: register.version }, register };
    case 'create':
      if (register !== null) return { ok: false, error: 'exists' };
      return { ok: true, result: { op: 'create' }, register: { value: sub.value, version: 0 } };
    case 'set': {
      const refused = refusal(register, sub.expectedVersion);
      if (refused !== null || register === null) return { ok: false, error: refused ?? 'not_found' };
      const version = register.version + 1;
      return { ok: true, result: { op: 'set', version }, register: { value: sub.value, version } };
    }
    case 'delete': {
      const refused = refusal(register, sub.expectedVersion);
      if (refused !== null) return { ok: false, error: refused };
      return { ok: true, result: { op: 'delete' }, register: null };
    }
  }
}

/** Why a set or delete is refused; `not_found` wins over `bad_version`. */
function refusal(register: Register | null, expectedVersion: number | undefined): ErrorCode | null {
  if (register === null) return 'not_found';
  if (expectedVersion !== undefined && expectedVersion !== register.version) return 'bad_version';
  return null;
}

function holds(register: Register | null, compare: Compare): boolean {
  switch (compare.target) {
    case 'exists':
      return ordered(register !== null ? 1 : 0, compare.value ? 1 : 0, compare.op);
    case 'version':
      // As in Synod (and etcd): an absent key has version 0 for compares.
      return ordered(register?.version ?? 0, compare.value, compare.op);
    case 'value':
      return register !== null && ordered(register.value, compare.value, compare.op);
  }
}

function ordered<T extends number | string>(actual: T, expected: T, operator: CompareOperator): boolean {
  switch (operator) {
    case '=':
      return actual === expected;
    case '!=':
      return actual !== expected;
    case '<':
      return actual < expected;
    case '>':
      return actual > expected;
  }
}

/** Copy-on-write: returns `cells` itself when the slot already holds an equal register. */
function withRegister(cells: Cells, slot: number, register: Register | null): Cells {
  const current = cells[slot] ?? null;
  if (current === register) return cells;
  const copy = cells.slice();
  copy[slot] = register;
  return copy;
}
