// What a member replicates: the state machine (tree, leases, idempotency, history) plus the registry of
// member addresses, which must survive snapshots just as the tree does.

import { decodeFrame, encodeFrame } from '../../sdk/protocol/codec.ts';
import type { ConfChange, LogIndex, NodeId, Role } from '../raft/types.ts';
import { concatSteps, restore, snapshotSteps, StateMachine, type ApplyResult, type Command, type StateConfigInput } from '../state/index.ts';
import type { Application } from './consensus.ts';

export interface MemberAddress {
  readonly peerUrl: string;
  readonly clientUrl: string;
}

/** Registry changes travel through the log like tree commands, before the membership change they describe. */
export type RegistryCommand =
  | { readonly op: 'memberSet'; readonly name: string; readonly peerUrl: string; readonly clientUrl: string }
  | { readonly op: 'memberDelete'; readonly name: string };

export type ReplicatedCommand = Command | RegistryCommand;

export interface AppHooks {
  onApplied(index: LogIndex, command: Command, applied: ApplyResult): void;
  onRegistryChange(): void;
  onRestore(): void;
  onConfChange(change: ConfChange, index: LogIndex): void;
  onRoleChange(role: Role, leader: NodeId | null): void;
  /** Planted bug (tests only): entries apply at this member's clock, not their proposer's stamp. */
  readonly localTimeMs?: () => number;
}

const snapshotFormat = 'synod.member';
/** The head of a CBOR map of three entries, as cbor-x writes it (a 16-bit count). */
const mapOfThree = new Uint8Array([0xb9, 0x00, 0x03]);

/** The head of a CBOR byte string of `length` bytes (RFC 8949 §3.1, major type 2). */
function byteStringHead(length: number): Uint8Array {
  if (length < 24) return new Uint8Array([0x40 + length]);
  if (length < 0x100) return new Uint8Array([0x58, length]);
  if (length < 0x10000) return new Uint8Array([0x59, length >> 8, length & 0xff]);
  const head = new Uint8Array(9);
  const view = new DataView(head.buffer);
  if (length < 2 ** 32) {
    head[0] = 0x5a;
    view.setUint32(1, length);
    return head.subarray(0, 5);
  }
  head[0] = 0x5b;
  view.setBigUint64(1, BigInt(length));
  return head;
}

/** A member's snapshot (`ReplicatedApp.snapshotSteps`) with its registry of members replaced: for seeding a new cluster. */
export function withMembers(data: Uint8Array, members: ReadonlyMap<string, MemberAddress>): Uint8Array {
  const decoded = decodeSnapshot(data);
  return encodeFrame({ ...decoded, members: [...members] });
}

function decodeSnapshot(data: Uint8Array): { format: string; machine: Uint8Array; members: Array<[string, MemberAddress]> } {
  const decoded = decodeFrame(data) as { format: string; machine: Uint8Array; members: Array<[string, MemberAddress]> };
  if (decoded.format !== snapshotFormat) throw new Error(`snapshot format ${String(decoded.format)} is not ${snapshotFormat}`);
  return decoded;
}

export class ReplicatedApp implements Application {
  machine: StateMachine;
  readonly members = new Map<string, MemberAddress>();

  constructor(
    private readonly stateConfig: StateConfigInput,
    initialMembers: ReadonlyMap<string, MemberAddress>,
    private readonly hooks: AppHooks,
  ) {
    this.machine = new StateMachine(stateConfig);
    for (const [name, address] of initialMembers) this.members.set(name, address);
  }

  apply(index: LogIndex, raw: unknown): unknown {
    const command = raw as ReplicatedCommand;
    if (command.op === 'memberSet' || command.op === 'memberDelete') {
      if (command.op === 'memberSet') this.members.set(command.name, { peerUrl: command.peerUrl, clientUrl: command.clientUrl });
      else this.members.delete(command.name);
      this.machine.skip(index);
      this.hooks.onRegistryChange();
      return { revision: this.machine.revision, result: { ok: true, op: command.op }, events: [] };
    }
    const localTimeMs = this.hooks.localTimeMs;
    const applied = this.machine.apply(index, localTimeMs === undefined ? command : { ...command, timeMs: localTimeMs() });
    this.hooks.onApplied(index, command, applied);
    return applied;
  }

  restore(data: Uint8Array): void {
    const decoded = decodeSnapshot(data);
    this.machine = restore(decoded.machine, { config: this.stateConfig });
    this.members.clear();
    for (const [name, address] of decoded.members) this.members.set(name, address);
    this.hooks.onRestore();
  }

  /**
   * The snapshot a step at a time (see Application.snapshotSteps). Its frame is what
   * `encodeFrame({ format, machine, members })` would give, put together here around the machine's parts so
   * that a state of hundreds of MB is allocated once and copied a slice per step (concatSteps).
   */
  *snapshotSteps(): Generator<void, Uint8Array> {
    const members = [...this.members];
    const parts = yield* snapshotSteps(this.machine);
    const machineBytes = parts.reduce((total, part) => total + part.length, 0);
    const head = [mapOfThree, encodeFrame('format'), encodeFrame(snapshotFormat), encodeFrame('machine'), byteStringHead(machineBytes)];
    const tail = [encodeFrame('members'), encodeFrame(members)];
    return yield* concatSteps([...head, ...parts, ...tail]);
  }

  onConfChange(change: ConfChange, index: LogIndex): void {
    this.hooks.onConfChange(change, index);
  }

  onRoleChange(role: Role, leader: NodeId | null): void {
    this.hooks.onRoleChange(role, leader);
  }
}
