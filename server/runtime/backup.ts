// Backups: a member's whole replicated state (the tree, leases and sessions, the watch history, the
// idempotency records, the revision counter) as one file, taken at a linearizable point, and the seeding of a
// new one-member cluster's data directory from such a file (etcd's `snapshot save` and `snapshot restore`).
//
// The file is one CBOR map: format, version, when and where it was taken, the revision and log index it
// reflects, the SHA-256 of the state, and the state itself (the bytes a member writes as its Raft snapshot).

import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { decodeFrame, encodeFrame } from '../../sdk/protocol/codec.ts';
import { logIndex, nodeId, term } from '../raft/types.ts';
import { openLog, realDisk } from '../storage/index.ts';
import { withMembers, type ReplicatedApp } from './app.ts';

export const backupFormat = 'synod.backup';
export const backupVersion = 1;

/** A backup that cannot be used (`corrupt`), or a data directory that is not empty (`exists`). */
export class BackupError extends Error {
  override readonly name = 'BackupError';
  constructor(
    readonly code: 'corrupt' | 'exists',
    message: string,
  ) {
    super(message);
  }
}

/** What a backup file says of itself (everything but the state). */
export interface BackupInfo {
  readonly format: typeof backupFormat;
  readonly version: number;
  readonly createdAt: string;
  /** The member that wrote it. */
  readonly member: string;
  /** The cluster revision and the log index the state reflects. */
  readonly revision: number;
  readonly index: number;
  readonly stateBytes: number;
  readonly sha256: string;
}

/** Bytes hashed per step. */
const hashBytesPerStep = 2 * 1024 * 1024;

/**
 * The member's state as a backup file's bytes, a step at a time (see Consensus.captureState, which runs it with
 * applies held back; call after a ReadIndex round: it is linearizable then).
 */
export function* backupSteps(app: ReplicatedApp, member: string, now: Date): Generator<void, Uint8Array> {
  const revision = app.machine.revision;
  const index = app.machine.appliedIndex;
  const state = yield* app.snapshotSteps();
  const hash = createHash('sha256');
  for (let at = 0; at < state.length; at += hashBytesPerStep) {
    hash.update(state.subarray(at, at + hashBytesPerStep));
    yield;
  }
  const info: BackupInfo = {
    format: backupFormat,
    version: backupVersion,
    createdAt: now.toISOString(),
    member,
    revision,
    index,
    stateBytes: state.byteLength,
    sha256: hash.digest('hex'),
  };
  return encodeFrame({ ...info, state });
}

/** Checks a backup file's bytes end to end; throws `corrupt` naming what is wrong. */
export function decodeBackup(bytes: Uint8Array): { info: BackupInfo; state: Uint8Array } {
  let decoded: Record<string, unknown>;
  try {
    decoded = decodeFrame(bytes) as Record<string, unknown>;
  } catch (error) {
    throw new BackupError('corrupt', `not a backup: ${(error as Error).message}`);
  }
  if (typeof decoded !== 'object' || decoded === null || decoded['format'] !== backupFormat) throw new BackupError('corrupt', `not a ${backupFormat} file`);
  if (decoded['version'] !== backupVersion) throw new BackupError('corrupt', `format version ${String(decoded['version'])} is not ${backupVersion}`);
  const { state, ...info } = decoded as unknown as BackupInfo & { state: unknown };
  if (!(state instanceof Uint8Array) || state.byteLength !== info.stateBytes) throw new BackupError('corrupt', 'the state is missing or truncated');
  if (sha256(state) !== info.sha256) throw new BackupError('corrupt', 'the state does not match its SHA-256');
  if (!Number.isSafeInteger(info.index) || info.index < 1) throw new BackupError('corrupt', `log index ${String(info.index)} is not valid`);
  return { info, state };
}

export interface SeedOptions {
  readonly dataDir: string;
  readonly name: string;
  readonly peerUrl: string;
  readonly clientUrl: string;
}

/**
 * Writes the data directory of a new one-member cluster whose state is the backup's: its Raft snapshot at the
 * backup's log index, with NAME as the only voter and the only member in the registry. Revisions, leases and
 * sessions carry over; a session's lease gets a full TTL from the new leader (and then expires unless its
 * client, reconnecting, keeps it alive). Refuses a directory that is not empty.
 */
export async function seedDataDir(bytes: Uint8Array, options: SeedOptions): Promise<BackupInfo> {
  const { info, state } = decodeBackup(bytes);
  if (existsSync(options.dataDir) && readdirSync(options.dataDir).length > 0) {
    throw new BackupError('exists', `${options.dataDir} is not empty: a restore seeds a new member, it never overwrites one`);
  }
  const data = withMembers(state, new Map([[options.name, { peerUrl: options.peerUrl, clientUrl: options.clientUrl }]]));
  const index = logIndex(info.index);
  const log = await openLog({ dir: options.dataDir, disk: realDisk });
  try {
    await log.save({
      hardState: { term: term(1), vote: null, commit: index },
      entries: [],
      snapshot: { metadata: { index, term: term(1), confState: { voters: [nodeId(options.name)], learners: [] } }, data },
      mustSync: true,
    });
  } finally {
    await log.close();
  }
  return info;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
