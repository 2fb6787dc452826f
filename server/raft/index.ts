// The Raft core's public surface.
export { RawNode, bootstrap, bootstrapState, type RaftStatus } from './raw-node.ts';
export { MemoryStorage, entryBytes, type LogStorage, type InitialState } from './storage.ts';
export { seededRandom, type Random } from './random.ts';
export { RaftError, invariant, type RaftErrorCode } from './errors.ts';
export { raftDefaults, resolveConfig, type RaftConfig, type RaftConfigInput, type PlantedBugs } from './config.ts';
export { quorumSize, committedIndex, tallyVotes } from './quorum.ts';
export * from './types.ts';
