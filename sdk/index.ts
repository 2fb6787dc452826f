// The Synod SDK's public surface.
export { connect, Client, toBytes, text, json, jsonValue, type ConnectOptions, type Value, type ReadOptions, type CreateCallOptions, type Txn, type TxnResult } from './client.ts';
export { Session, type SessionState } from './session.ts';
export { WatchStream, type WatchOptions, type WatchItem } from './watch.ts';
export { SynodError, NotFoundError, ExistsError, BadVersionError, CompactedError, SessionExpiredError, type SynodErrorCode } from './errors.ts';
export type { CallOptions } from './connection.ts';
export type { Deps } from './deps.ts';
export type * from './protocol/messages.ts';
export { Lock, lockFolder, type LockOptions } from './recipes/lock.ts';
export { Election, Leadership, type LeaderInfo, type CampaignOptions } from './recipes/election.ts';
export { recipeRoot } from './recipes/queue.ts';
