// A node as it was at a past revision, rebuilt from the watch history the members keep (there is no
// multi-version read in Synod): the first change after that revision tells what the node was before it.

import type { Client, NodeStat, WatchEvent, WatchStream } from '../../sdk/index.ts';
import { CompactedError, SynodError } from '../../sdk/index.ts';
import { CliError } from './errors.ts';

/** What `get --revision` knows of a node at a past revision. */
export interface PastNode {
  readonly path: string;
  readonly revision: number;
  readonly data: Uint8Array;
  /** Exact when the node was unchanged since, or was deleted next; null when only its data is known. */
  readonly stat: NodeStat | null;
}

/** How often to look whether the watch has registered (its replay is then buffered). */
const registerPollMs = 5;

/**
 * The node at `path` as of `revision`; `not_found` when it did not exist then, `compacted` when the history
 * no longer reaches back that far.
 */
export async function getAtRevision(client: Client, path: string, revision: number, timeoutMs: number, serializable: boolean): Promise<PastNode> {
  const status = await client.status();
  const current = status.revision;
  if (revision > current) throw new CliError('bad_request', `revision ${revision} is in the future (the cluster is at ${current})`);
  const signal = AbortSignal.timeout(timeoutMs);
  const stream = client.watch(path, { fromRevision: revision + 1, prevData: true, signal });
  try {
    // The first change after `revision` (replayed from history, or live); a compacted history fails it.
    const first = firstEvent(stream);
    first.catch(() => {});
    await Promise.race([registered(stream, signal), first]);
    if (stream.lastRevision === 0) {
      // No change since `revision` was replayed. The read's answer comes after any later event on this
      // connection, so if none arrived by then, the node is as the read finds it.
      const read = serializable ? { serializable: true as const } : {};
      const now = await client.exists(path, read);
      if (stream.lastRevision === 0 && now === null) throw notThere(path, revision);
      if (stream.lastRevision === 0 && now !== null && now.modRevision <= revision) {
        const node = await client.get(path, read);
        if (node.stat.modRevision <= revision) return { path, revision, data: node.data, stat: node.stat };
      }
    }
    return fromFirstChange(path, revision, await first);
  } catch (error) {
    if (error instanceof CompactedError) {
      const oldest = error.details.compactRevision;
      throw new CliError('compacted', `revision ${revision} is older than the history kept${oldest !== undefined ? ` (the oldest is ${oldest})` : ''}`, 'read a later revision, or the current value without --revision', oldest !== undefined ? { compactRevision: oldest } : {}, { cause: error });
    }
    if (signal.aborted && error instanceof SynodError && error.code === 'aborted') throw new CliError('timeout', `no answer about ${path} at revision ${revision} within ${timeoutMs} ms`);
    throw error;
  } finally {
    stream.finish(null);
  }
}

/** Waits until the server accepted the watch: its replayed history is then in the stream's buffer. */
async function registered(stream: WatchStream, signal: AbortSignal): Promise<void> {
  while (stream.watchId === 0) {
    signal.throwIfAborted();
    await new Promise((resolve) => setTimeout(resolve, registerPollMs));
  }
}

async function firstEvent(stream: WatchStream): Promise<WatchEvent> {
  for await (const item of stream) {
    if (item.type === 'create' || item.type === 'set' || item.type === 'delete') return item;
  }
  throw new SynodError('aborted', 'the watch ended');
}

/** The state before the first change after `revision`. */
function fromFirstChange(path: string, revision: number, event: WatchEvent): PastNode {
  switch (event.type) {
    case 'create':
      throw notThere(path, revision);
    case 'delete':
      // A delete event carries the node as it was just before.
      return { path, revision, data: event.data, stat: event.stat };
    case 'set':
      return { path, revision, data: event.prevData ?? new Uint8Array(0), stat: null };
  }
}

function notThere(path: string, revision: number): CliError {
  return new CliError('not_found', `${path} did not exist at revision ${revision}`);
}
