// What a member replicates: the state machine (tree, leases, idempotency, history) plus the registry of
// member addresses, which must survive snapshots just as the tree does.

import { decodeFrame, encodeFrame } from '../../sdk/protocol/codec.ts';
import type { ConfChange, LogIndex, NodeId, Role } from '../raft/types.ts';
import { restore, snapshot, StateMachine, type ApplyResult, type Command, type StateConfigInput } from '../state/index.ts';
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

/** A member's snapshot (`ReplicatedApp.snapshot`) with its registry of members replaced: for seeding a new cluster. */
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

  snapshot(): Uint8Array {
    return encodeFrame({ format: snapshotFormat, machine: snapshot(this.machine), members: [...this.members] });
  }

  onConfChange(change: ConfChange, index: LogIndex): void {
    this.hooks.onConfChange(change, index);
  }

  onRoleChange(role: Role, leader: NodeId | null): void {
    this.hooks.onRoleChange(role, leader);
  }
}
