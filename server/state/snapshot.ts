// Snapshot and restore of the whole state as a CBOR sequence (RFC 8742) of self-contained items, so it can be
// written and read a chunk at a time: a header, then leases, nodes (pre-order, children by name), idempotency
// records (least recently used first) and the kept watch history, each in chunks of flat columns, then an end
// item with the counts. Numeric columns are packed as unsigned LEB128 varints in one byte string (a million
// nodes are ~12 million small numbers: far faster to pack and parse than as CBOR items); node data is one
// concatenated byte string per chunk. The format is canonical: equal states give equal bytes.

import type { Options } from 'cbor-x';
import { Encoder } from 'cbor-x';
import { encodeOwned } from '../../sdk/protocol/codec.ts';
import type { ClientResult } from './clients.ts';
import type { CommandOp, CommandResult } from './commands.ts';
import type { StateConfig, StateConfigInput } from './config.ts';
import { resolveStateConfig } from './config.ts';
import { StateMachineError } from './errors.ts';
import { checkInvariants } from './invariants.ts';
import { Lease } from './leases.ts';
import { StateMachine } from './machine.ts';
import { EMPTY_DATA, isValidName, pathBytes, TreeNode } from './tree.ts';
import type { EventType, LeaseId, LeaseKind, NodeMode, Revision, Stat, WatchEvent } from './types.ts';
import { nodeModes } from './types.ts';

export const SNAPSHOT_FORMAT = 'synod.state';
export const SNAPSHOT_VERSION = 1;
/** A chunk closes at this many rows... */
export const SNAPSHOT_CHUNK_ROWS_MAX = 4_096;
/** ...or once its data reaches this many bytes (a chunk holds at least one row). */
export const SNAPSHOT_CHUNK_BYTES_MAX = 1024 * 1024;

/**
 * cbor-x options, all explicit: no records (each item decodes alone), plain byte strings (no typed-array tag),
 * decoded bytes copied (a restored state never aliases the caller's buffer), 64-bit integers as numbers.
 * A runtime that decodes a snapshot stream itself (DecoderStream) must use these.
 */
export const snapshotCodecOptions: Options & { readonly int64AsNumber: boolean } = {
  useRecords: false,
  mapsAsObjects: true,
  tagUint8Array: false,
  copyBuffers: true,
  int64AsNumber: true,
  useFloat32: 0,
  pack: false,
  bundleStrings: false,
  structuredClone: false,
  sequential: false,
  useTimestamp32: false,
  largeBigIntToFloat: false,
  useToJSON: false,
  useSelfDescribedHeader: false,
};
const codec = new Encoder(snapshotCodecOptions);

const eventTypes: readonly EventType[] = ['create', 'set', 'delete'];
const leaseKinds: readonly LeaseKind[] = ['lease', 'session'];

// ---------------------------------------------------------------------------------------------------------
// Items

interface HeaderItem {
  readonly kind: 'header';
  readonly format: string;
  readonly version: number;
  readonly config: StateConfig;
  readonly appliedIndex: number;
  readonly revision: number;
  readonly timeMs: number;
  readonly leaseIdLast: number;
  readonly historyOldestRevision: number;
}
/** Rows of [id, ttlMs, kind]; `clientIds` parallel. */
interface LeasesItem {
  readonly kind: 'leases';
  readonly fields: Uint8Array;
  readonly clientIds: readonly string[];
}
/** Rows of NODE_FIELDS numbers (see writeNode); `names` and the data slices parallel. */
interface NodesItem {
  readonly kind: 'nodes';
  readonly names: readonly string[];
  readonly fields: Uint8Array;
  readonly data: Uint8Array;
}
/**
 * Per client (`ids`), in `fields`: its mark `low` and its count of results, then per result its sequence and
 * revision; `ops` and `results` list every client's results in that order.
 */
interface ClientsItem {
  readonly kind: 'clients';
  readonly ids: readonly string[];
  readonly ops: readonly string[];
  readonly fields: Uint8Array;
  readonly results: readonly CommandResult[];
}
/** Rows of EVENT_FIELDS numbers (see writeEvent); data then prevData per event in `data`. */
interface EventsItem {
  readonly kind: 'events';
  readonly paths: readonly string[];
  readonly fields: Uint8Array;
  readonly data: Uint8Array;
}
interface EndItem {
  readonly kind: 'end';
  readonly leaseCount: number;
  readonly nodeCount: number;
  readonly clientCount: number;
  readonly eventCount: number;
}
type SnapshotItem = HeaderItem | LeasesItem | NodesItem | ClientsItem | EventsItem | EndItem;

// ---------------------------------------------------------------------------------------------------------
// Encoding

/** The whole state as one byte array (the concatenation of `snapshotChunks`). */
export function snapshot(machine: StateMachine): Uint8Array {
  return runSteps(concatSteps(runSteps(snapshotSteps(machine))));
}

/** Runs a generator of steps (like `snapshotSteps`) to its end, at once; returns what it returns. */
function runSteps<T>(steps: Generator<void, T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done === true) return step.value;
  }
}

/** `parts` concatenated into one new array, allocated once and filled about `bytesPerStep` at a time between steps. */
export function* concatSteps(parts: readonly Uint8Array[], bytesPerStep = 2 * 1024 * 1024): Generator<void, Uint8Array> {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  let sinceStep = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
    sinceStep += part.length;
    if (sinceStep >= bytesPerStep) {
      sinceStep = 0;
      yield;
    }
  }
  return out;
}

/**
 * The same snapshot a step at a time, each bounded (an item of at most SNAPSHOT_CHUNK_ROWS_MAX rows or about
 * SNAPSHOT_CHUNK_BYTES_MAX bytes, or a slice of the sorting of a large folder's children), so a member can go on
 * with other work between steps. Returns the encoded items, whose concatenation is the snapshot. The state
 * must not change until the generator is done (apply nothing meanwhile).
 */
export function* snapshotSteps(machine: StateMachine): Generator<void, Uint8Array[]> {
  const parts: Uint8Array[] = [];
  for (const item of snapshotItems(machine)) {
    if (item !== null) parts.push(encodeOwned(codec, item));
    yield;
  }
  return parts;
}

/**
 * The snapshot as a sequence of encoded items, for writing as it is produced. The state must not change
 * until the generator is done (apply nothing meanwhile).
 */
export function* snapshotChunks(machine: StateMachine): Generator<Uint8Array> {
  // A copy into a plain Uint8Array: the encoder's output is a view of its shared buffer.
  for (const item of snapshotItems(machine)) if (item !== null) yield new Uint8Array(encodeOwned(codec, item));
}

/** The items of a snapshot, and a null for each pause in a long computation between them. */
function* snapshotItems(machine: StateMachine): Generator<SnapshotItem | null> {
  const history = machine.eventHistory;
  yield {
    kind: 'header',
    format: SNAPSHOT_FORMAT,
    version: SNAPSHOT_VERSION,
    config: machine.config,
    appliedIndex: machine.appliedIndex,
    revision: machine.revision,
    timeMs: machine.timeMs,
    leaseIdLast: machine.leaseTable.idLast,
    historyOldestRevision: history.oldestRevision,
  };
  const end = { leaseCount: 0, nodeCount: 0, clientCount: 0, eventCount: 0 };
  for (const item of leaseItems(machine)) {
    end.leaseCount += item.clientIds.length;
    yield item;
  }
  for (const item of nodeItems(machine)) {
    if (item !== null) end.nodeCount += item.names.length;
    yield item;
  }
  for (const item of clientItems(machine)) {
    end.clientCount += item.ids.length;
    yield item;
  }
  for (const item of eventItems(machine)) {
    if (item !== null) end.eventCount += item.paths.length;
    yield item;
  }
  yield { kind: 'end', ...end };
}

function* leaseItems(machine: StateMachine): Generator<LeasesItem> {
  let fields = new VarintWriter();
  let clientIds: string[] = [];
  for (const lease of machine.leaseTable.sorted()) {
    fields.write(lease.id);
    fields.write(lease.ttlMs);
    fields.write(leaseKinds.indexOf(lease.kind));
    clientIds.push(lease.clientId);
    if (clientIds.length >= SNAPSHOT_CHUNK_ROWS_MAX) {
      yield { kind: 'leases', fields: fields.finish(), clientIds };
      fields = new VarintWriter();
      clientIds = [];
    }
  }
  if (clientIds.length > 0) yield { kind: 'leases', fields: fields.finish(), clientIds };
}

function* nodeItems(machine: StateMachine): Generator<NodesItem | null> {
  const tree = machine.tree;
  // Pre-order, children by name. A frame per folder being walked: its row (its children's parent) and the
  // next child to visit, so a folder of a million children costs nothing until each child's turn comes.
  const frames: Array<{ readonly row: number; readonly node: TreeNode; readonly names: readonly string[]; next: number }> = [];
  let node: TreeNode | null = tree.root;
  let parentRow = -1;
  let row = 0;
  let chunk = new ChunkBuilder();
  while (node !== null) {
    const f = chunk.fields;
    f.write(parentRow + 1);
    f.write(node.createRevision);
    f.write(node.modRevision);
    f.write(node.version);
    f.write(node.cversion);
    f.write(node.ephemeralOwner);
    f.write(nodeFlags(node.mode, node.sequential));
    f.write(node.ttlMs);
    f.write(node.ctimeMs);
    f.write(node.mtimeMs);
    f.write(node.sequenceNext);
    f.write(node.data.length);
    chunk.add(node.name, node.data, null);
    const children = node.children;
    if (children !== null && children.size > 0) {
      // A folder's names are sorted once and kept (the tree keeps them in order as children come and go); a
      // large folder's first sort is done a slice at a time.
      if (node.sortedNames === null && children.size > SORT_RUN) node.sortedNames = yield* sortInSteps([...children.keys()]);
      frames.push({ row, node, names: tree.sortedNames(node), next: 0 });
    }
    row++;
    if (chunk.full()) {
      yield { kind: 'nodes', ...chunk.finish() };
      chunk = new ChunkBuilder();
    } else if (chunk.rows % PAUSE_ROWS === 0) {
      yield null;
    }
    node = null;
    while (frames.length > 0) {
      const frame = frames[frames.length - 1]!;
      if (frame.next < frame.names.length) {
        node = frame.node.children!.get(frame.names[frame.next++]!)!;
        parentRow = frame.row;
        break;
      }
      frames.pop();
    }
  }
  if (chunk.rows > 0) yield { kind: 'nodes', ...chunk.finish() };
}

/** Rows gathered between pauses while an item is built. */
const PAUSE_ROWS = 512;

/** Names sorted per run, between steps. */
const SORT_RUN = 4_096;

/** Sorts `names` (as Array.prototype.sort does) by a merge sort that pauses (yields null) after each run of work. */
function* sortInSteps(names: string[]): Generator<null, string[]> {
  let runs: string[][] = [];
  for (let i = 0; i < names.length; i += SORT_RUN) {
    runs.push(names.slice(i, i + SORT_RUN).sort());
    yield null;
  }
  while (runs.length > 1) {
    const merged: string[][] = [];
    for (let r = 0; r < runs.length; r += 2) {
      const a = runs[r]!;
      const b = runs[r + 1];
      if (b === undefined) {
        merged.push(a);
        continue;
      }
      const out = new Array<string>(a.length + b.length);
      let i = 0;
      let j = 0;
      for (let k = 0; k < out.length; k++) {
        out[k] = j >= b.length || (i < a.length && a[i]! < b[j]!) ? a[i++]! : b[j++]!;
        if (k % SORT_RUN === SORT_RUN - 1) yield null;
      }
      merged.push(out);
    }
    runs = merged;
  }
  return runs[0] ?? [];
}

function* clientItems(machine: StateMachine): Generator<ClientsItem> {
  let ids: string[] = [];
  let ops: string[] = [];
  let fields = new VarintWriter();
  let results: CommandResult[] = [];
  for (const [id, record] of machine.clients.records) {
    ids.push(id);
    fields.write(record.low);
    fields.write(record.results.size);
    for (const [sequence, first] of record.results) {
      fields.write(sequence);
      fields.write(first.revision);
      ops.push(first.op);
      results.push(first.result);
    }
    if (ids.length + results.length >= SNAPSHOT_CHUNK_ROWS_MAX) {
      yield { kind: 'clients', ids, ops, fields: fields.finish(), results };
      ids = [];
      ops = [];
      fields = new VarintWriter();
      results = [];
    }
  }
  if (ids.length > 0) yield { kind: 'clients', ids, ops, fields: fields.finish(), results };
}

function* eventItems(machine: StateMachine): Generator<EventsItem | null> {
  const history = machine.eventHistory;
  let chunk = new ChunkBuilder();
  for (let i = 0; i < history.size; i++) {
    const event = history.at(i);
    const stat = event.stat;
    const f = chunk.fields;
    f.write(eventTypes.indexOf(event.type));
    f.write(event.revision);
    f.write(stat.createRevision);
    f.write(stat.modRevision);
    f.write(stat.version);
    f.write(stat.cversion);
    f.write(stat.ephemeralOwner);
    f.write(stat.numChildren);
    f.write(stat.dataLength);
    f.write(nodeFlags(stat.mode, stat.sequential));
    f.write(stat.ttlMs);
    f.write(stat.ctimeMs);
    f.write(stat.mtimeMs);
    f.write(event.prevData === null ? 0 : event.prevData.length + 1);
    if (event.data.length !== stat.dataLength) throw invalidState('an event data length differs from its stat');
    chunk.add(event.path, event.data, event.prevData);
    if (chunk.full()) {
      yield { kind: 'events', ...renamePaths(chunk.finish()) };
      chunk = new ChunkBuilder();
    } else if (chunk.rows % PAUSE_ROWS === 0) {
      yield null;
    }
  }
  if (chunk.rows > 0) yield { kind: 'events', ...renamePaths(chunk.finish()) };
}

function renamePaths(chunk: { names: string[]; fields: Uint8Array; data: Uint8Array }): {
  paths: string[];
  fields: Uint8Array;
  data: Uint8Array;
} {
  return { paths: chunk.names, fields: chunk.fields, data: chunk.data };
}

function nodeFlags(mode: NodeMode, sequential: boolean): number {
  return nodeModes.indexOf(mode) | (sequential ? 4 : 0);
}

function invalidState(message: string): StateMachineError {
  return new StateMachineError('invariant', message);
}

/** Rows of one chunk: names, packed numbers, and the concatenated data. */
class ChunkBuilder {
  readonly names: string[] = [];
  readonly fields = new VarintWriter();
  private readonly blobs: Uint8Array[] = [];
  private bytes = 0;

  get rows(): number {
    return this.names.length;
  }

  add(name: string, data: Uint8Array, extra: Uint8Array | null): void {
    this.names.push(name);
    if (data.length > 0) this.blobs.push(data);
    this.bytes += data.length;
    if (extra !== null && extra.length > 0) {
      this.blobs.push(extra);
      this.bytes += extra.length;
    }
  }

  full(): boolean {
    return this.names.length >= SNAPSHOT_CHUNK_ROWS_MAX || this.bytes >= SNAPSHOT_CHUNK_BYTES_MAX;
  }

  finish(): { names: string[]; fields: Uint8Array; data: Uint8Array } {
    const data = new Uint8Array(this.bytes);
    let offset = 0;
    for (const blob of this.blobs) {
      data.set(blob, offset);
      offset += blob.length;
    }
    return { names: this.names, fields: this.fields.finish(), data };
  }
}

// ---------------------------------------------------------------------------------------------------------
// Decoding

export interface RestoreOptions {
  /** Limits to use instead of the snapshot's (merged over them). Every member must use the same. */
  readonly config?: StateConfigInput;
}

/** Rebuilds a machine from `snapshot` bytes. Throws StateMachineError('snapshot_invalid') if they are unusable. */
export function restore(bytes: Uint8Array, options: RestoreOptions = {}): StateMachine {
  // A plain Uint8Array view, so decoded byte strings are plain Uint8Arrays (not Buffers).
  const input = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let items: unknown[];
  try {
    items = (codec.decodeMultiple(input) as unknown[] | undefined) ?? [];
  } catch (error) {
    throw new StateMachineError('snapshot_invalid', 'the snapshot is not a CBOR sequence', { cause: error });
  }
  const reader = new SnapshotReader(options);
  for (const item of items) reader.push(item);
  return reader.finish();
}

/** Restores from items decoded one at a time (with `snapshotCodecOptions`), for streaming. */
export class SnapshotReader {
  private machine: StateMachine | null = null;
  private phase = 0;
  private readonly nodes: TreeNode[] = [];
  private readonly events: WatchEvent[] = [];
  private historyOldestRevision = 1;
  private counts = { leaseCount: 0, nodeCount: 0, clientCount: 0, eventCount: 0 };
  private done = false;

  constructor(private readonly options: RestoreOptions = {}) {}

  push(item: unknown): void {
    try {
      this.pushItem(item);
    } catch (error) {
      if (error instanceof StateMachineError && error.code === 'snapshot_invalid') throw error;
      throw new StateMachineError('snapshot_invalid', `unusable snapshot item: ${String(error)}`, { cause: error });
    }
  }

  finish(): StateMachine {
    const machine = this.machine;
    if (machine === null || !this.done) throw invalid('the snapshot is truncated (no end item)');
    try {
      checkInvariants(machine);
    } catch (error) {
      throw new StateMachineError('snapshot_invalid', `the restored state is inconsistent: ${String(error)}`, {
        cause: error,
      });
    }
    return machine;
  }

  private pushItem(item: unknown): void {
    if (this.done) throw invalid('items after the end item');
    const kind = isRecord(item) ? item['kind'] : undefined;
    const phases = ['header', 'leases', 'nodes', 'clients', 'events', 'end'];
    const phase = phases.indexOf(kind as string);
    if (phase < 0) throw invalid(`unknown item kind ${String(kind)}`);
    if (phase < this.phase || (phase === 0 && this.machine !== null) || (phase > 0 && this.machine === null)) {
      throw invalid(`item ${String(kind)} out of order`);
    }
    this.phase = phase;
    switch (kind) {
      case 'header':
        return this.header(item as unknown as HeaderItem);
      case 'leases':
        return this.leases(item as unknown as LeasesItem);
      case 'nodes':
        return this.nodeChunk(item as unknown as NodesItem);
      case 'clients':
        return this.clientChunk(item as unknown as ClientsItem);
      case 'events':
        return this.eventChunk(item as unknown as EventsItem);
      case 'end':
        return this.end(item as unknown as EndItem);
    }
  }

  private header(item: HeaderItem): void {
    if (item.format !== SNAPSHOT_FORMAT) throw invalid(`not a state snapshot (format ${String(item.format)})`);
    if (item.version !== SNAPSHOT_VERSION) throw invalid(`unsupported snapshot version ${String(item.version)}`);
    if (!isRecord(item.config)) throw invalid('the header has no config');
    const config = resolveStateConfig({ ...(item.config as StateConfigInput), ...this.options.config });
    for (const key of ['appliedIndex', 'revision', 'timeMs', 'leaseIdLast'] as const) naturalOrThrow(item[key], key);
    naturalOrThrow(item.historyOldestRevision, 'historyOldestRevision');
    const machine = new StateMachine(config);
    machine.restoreCounters(item.revision as Revision, item.appliedIndex, item.timeMs);
    machine.leaseTable.idLast = item.leaseIdLast;
    this.historyOldestRevision = item.historyOldestRevision;
    this.machine = machine;
  }

  private leases(item: LeasesItem): void {
    const machine = this.machine as StateMachine;
    const clientIds = stringsOrThrow(item.clientIds, 'lease client ids');
    const fields = new VarintReader(bytesOrThrow(item.fields, 'lease fields'));
    for (const clientId of clientIds) {
      const id = fields.read();
      const ttlMs = fields.read();
      const kind = leaseKinds[fields.read()];
      if (id === 0 || kind === undefined) throw invalid('a lease row is malformed');
      if (machine.leaseTable.get(id) !== undefined) throw invalid(`lease ${id} appears twice`);
      machine.leaseTable.add(new Lease(id as LeaseId, ttlMs, kind, clientId));
    }
    if (!fields.done) throw invalid('lease fields do not match the rows');
    this.counts.leaseCount += clientIds.length;
  }

  private nodeChunk(item: NodesItem): void {
    const machine = this.machine as StateMachine;
    const tree = machine.tree;
    const names = stringsOrThrow(item.names, 'node names');
    const fields = new VarintReader(bytesOrThrow(item.fields, 'node fields'));
    const data = bytesOrThrow(item.data, 'node data');
    let offset = 0;
    for (const name of names) {
      const parentPlusOne = fields.read();
      const createRevision = fields.read() as Revision;
      const modRevision = fields.read() as Revision;
      const version = fields.read();
      const cversion = fields.read();
      const ephemeralOwner = fields.read();
      const flags = fields.read();
      const ttlMs = fields.read();
      const ctimeMs = fields.read();
      const mtimeMs = fields.read();
      const sequenceNext = fields.read();
      const dataLength = fields.read();
      if (offset + dataLength > data.length) throw invalid('node data is shorter than its lengths');
      const nodeData = dataLength === 0 ? EMPTY_DATA : data.subarray(offset, offset + dataLength);
      offset += dataLength;
      const mode = nodeModes[flags & 3] as NodeMode;
      if (flags > 7) throw invalid('node flags are malformed');
      let node: TreeNode;
      if (this.nodes.length === 0) {
        if (parentPlusOne !== 0 || name !== '' || flags !== 0) throw invalid('the first node is not the root');
        node = tree.root;
        node.data = nodeData;
        node.modRevision = modRevision;
        node.mtimeMs = mtimeMs;
      } else {
        const parent = this.nodes[parentPlusOne - 1];
        if (parent === undefined) throw invalid(`node ${this.nodes.length} has no earlier parent`);
        if (!isValidName(name)) throw invalid(`node name ${JSON.stringify(name)} is invalid`);
        if (parent.children?.has(name) === true) throw invalid(`node name ${name} appears twice under one parent`);
        node = new TreeNode(
          name,
          parent,
          nodeData,
          createRevision,
          modRevision,
          ephemeralOwner as LeaseId | 0,
          mode,
          (flags & 4) !== 0,
          ttlMs,
          ctimeMs,
          mtimeMs,
        );
        if (parent.children === null) parent.children = new Map();
        parent.children.set(name, node);
        if (mode === 'ephemeral') {
          const lease = machine.leaseTable.get(ephemeralOwner);
          if (lease === undefined) throw invalid(`node ${name} is owned by a missing lease ${ephemeralOwner}`);
          lease.nodes.add(node);
        } else if (mode === 'ttl') {
          tree.ttlNodes.add(node);
        }
      }
      node.version = version;
      node.cversion = cversion;
      node.sequenceNext = sequenceNext;
      this.nodes.push(node);
    }
    if (!fields.done || offset !== data.length) throw invalid('node fields or data do not match the rows');
    this.counts.nodeCount += names.length;
  }

  private clientChunk(item: ClientsItem): void {
    const machine = this.machine as StateMachine;
    const ids = stringsOrThrow(item.ids, 'client ids');
    const ops = stringsOrThrow(item.ops, 'client ops');
    const fields = new VarintReader(bytesOrThrow(item.fields, 'client fields'));
    if (!Array.isArray(item.results) || ops.length !== item.results.length) throw invalid('client columns differ in length');
    let next = 0;
    for (const id of ids) {
      const low = fields.read();
      const count = fields.read();
      if (next + count > ops.length) throw invalid('client results do not match the rows');
      const results = new Map<number, ClientResult>();
      let highest = 0;
      for (let i = 0; i < count; i++, next++) {
        const sequence = fields.read();
        const revision = fields.read() as Revision;
        const result = item.results[next];
        if (!isRecord(result) || typeof result['ok'] !== 'boolean') throw invalid('a client result is malformed');
        if (sequence < low || (i > 0 && sequence <= highest)) throw invalid('client results are out of order');
        results.set(sequence, { op: ops[next] as CommandOp, revision, result: result as unknown as CommandResult });
        highest = sequence;
      }
      machine.clients.records.set(id, { low, results, highest });
    }
    if (!fields.done || next !== ops.length) throw invalid('client fields do not match the rows');
    this.counts.clientCount += ids.length;
  }

  private eventChunk(item: EventsItem): void {
    const paths = stringsOrThrow(item.paths, 'event paths');
    const fields = new VarintReader(bytesOrThrow(item.fields, 'event fields'));
    const data = bytesOrThrow(item.data, 'event data');
    let offset = 0;
    const take = (length: number): Uint8Array => {
      if (offset + length > data.length) throw invalid('event data is shorter than its lengths');
      const slice = length === 0 ? EMPTY_DATA : data.subarray(offset, offset + length);
      offset += length;
      return slice;
    };
    for (const path of paths) {
      if (pathBytes(path, { pathBytesMax: Number.MAX_SAFE_INTEGER, pathDepthMax: Number.MAX_SAFE_INTEGER }) < 0) {
        throw invalid(`event path ${JSON.stringify(path)} is invalid`);
      }
      const type = eventTypes[fields.read()];
      const revision = fields.read() as Revision;
      const createRevision = fields.read() as Revision;
      const modRevision = fields.read() as Revision;
      const version = fields.read();
      const cversion = fields.read();
      const ephemeralOwner = fields.read() as LeaseId | 0;
      const numChildren = fields.read();
      const dataLength = fields.read();
      const flags = fields.read();
      const ttlMs = fields.read();
      const ctimeMs = fields.read();
      const mtimeMs = fields.read();
      const prevLengthPlusOne = fields.read();
      if (type === undefined || flags > 7) throw invalid('an event row is malformed');
      const stat: Stat = {
        createRevision,
        modRevision,
        version,
        cversion,
        ephemeralOwner,
        numChildren,
        dataLength,
        mode: nodeModes[flags & 3] as NodeMode,
        sequential: (flags & 4) !== 0,
        ttlMs,
        ctimeMs,
        mtimeMs,
      };
      const eventData = take(dataLength);
      const prevData = prevLengthPlusOne === 0 ? null : take(prevLengthPlusOne - 1);
      const last = this.events[this.events.length - 1];
      if (last !== undefined && last.revision > revision) throw invalid('events are out of revision order');
      this.events.push({ type, path, revision, stat, data: eventData, prevData });
    }
    if (!fields.done || offset !== data.length) throw invalid('event fields or data do not match the rows');
    this.counts.eventCount += paths.length;
  }

  private end(item: EndItem): void {
    const machine = this.machine as StateMachine;
    const counts = this.counts;
    if (
      item.leaseCount !== counts.leaseCount ||
      item.nodeCount !== counts.nodeCount ||
      item.clientCount !== counts.clientCount ||
      item.eventCount !== counts.eventCount
    ) {
      throw invalid('the end item counts differ from the items read');
    }
    if (counts.nodeCount === 0) throw invalid('the snapshot has no root');
    machine.eventHistory.load(this.events, this.historyOldestRevision as Revision);
    machine.eventHistory.retain(machine.revision);
    machine.clients.setLimits(machine.config.clientsMax, machine.config.clientResultsMax);
    this.done = true;
  }
}

function invalid(message: string): StateMachineError {
  return new StateMachineError('snapshot_invalid', message);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function naturalOrThrow(value: unknown, name: string): void {
  if (!Number.isSafeInteger(value) || (value as number) < 0) throw invalid(`${name} is not a non-negative integer`);
}

function stringsOrThrow(value: unknown, name: string): readonly string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw invalid(`${name} are not strings`);
  return value as string[];
}

function bytesOrThrow(value: unknown, name: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw invalid(`${name} are not bytes`);
  // Items decoded from a Buffer hold Buffers: keep plain Uint8Array views so node data has one type.
  return value.constructor === Uint8Array ? value : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

// ---------------------------------------------------------------------------------------------------------
// Varint columns: unsigned LEB128, at most 8 bytes for a safe integer.

export class VarintWriter {
  private bytes = new Uint8Array(256);
  private length = 0;

  write(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw invalidState(`${value} is not a non-negative safe integer`);
    if (this.length + 8 > this.bytes.length) {
      const next = new Uint8Array(this.bytes.length * 2);
      next.set(this.bytes);
      this.bytes = next;
    }
    const b = this.bytes;
    let n = this.length;
    let v = value;
    while (v >= 0x80000000) {
      b[n++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    while (v > 0x7f) {
      b[n++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    b[n++] = v;
    this.length = n;
  }

  finish(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}

export class VarintReader {
  private position = 0;

  constructor(private readonly bytes: Uint8Array) {}

  get done(): boolean {
    return this.position === this.bytes.length;
  }

  read(): number {
    const b = this.bytes;
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const byte = b[this.position++];
      if (byte === undefined) throw invalid('a varint column is truncated');
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (!Number.isSafeInteger(result)) break;
        return result;
      }
      scale *= 128;
    }
    throw invalid('a varint is larger than a safe integer');
  }
}
