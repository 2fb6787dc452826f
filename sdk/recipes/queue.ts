// The queue beneath locks and elections: each contender creates an ephemeral sequential node under the
// recipe's folder; the order of suffixes is the order of arrival. A contender waits only for the node it
// depends on (no herd effect), with a watch that starts at the revision of its last look, so no deletion
// can slip between looking and watching.

import type { Client } from '../client.ts';
import { CompactedError, SynodError } from '../errors.ts';
import type { NodeStat } from '../protocol/messages.ts';
import type { Session } from '../session.ts';

/** Where recipes keep their nodes; another client that follows docs/recipes.md interoperates. */
export const recipeRoot = '/synod';

export interface QueueEntry {
  readonly name: string;
  readonly path: string;
  readonly sequence: number;
  readonly stat: NodeStat;
}

/** The sequence number at the end of a sequential node's name (10 digits). */
export function sequenceOf(name: string): number {
  return Number(name.slice(-10));
}

/** Children of `folder`, in queue order, with the revision of the read. */
export async function readQueue(client: Client, folder: string, signal?: AbortSignal): Promise<{ entries: QueueEntry[]; revision: number }> {
  for (;;) {
    const { nodes, revision, more } = await client.range(folder, { limit: 10_000, ...(signal ? { signal } : {}) }).catch((error: unknown) => {
      if (error instanceof SynodError && error.code === 'not_found') return { nodes: [], revision: 0, more: false };
      throw error;
    });
    if (more) throw new SynodError('too_many_requests', `more than 10000 contenders under ${folder}`);
    const entries = nodes
      .filter((node) => node.path !== folder && node.path.lastIndexOf('/') === folder.length)
      .map((node) => {
        const name = node.path.slice(folder.length + 1);
        return { name, path: node.path, sequence: sequenceOf(name), stat: node.stat };
      })
      .sort((a, b) => a.sequence - b.sequence);
    return { entries, revision };
  }
}

/** Joins the queue: an ephemeral sequential node owned by `session`, named `prefix-<session>-NNNNNNNNNN`. */
export async function enqueue(client: Client, folder: string, prefix: string, session: Session, data: Uint8Array, signal?: AbortSignal): Promise<{ path: string; stat: NodeStat }> {
  const created = await client.create(`${folder}/${prefix}-${session.id}-`, data, {
    mode: 'ephemeral',
    sequential: true,
    parents: true,
    session,
    ...(signal ? { signal } : {}),
  });
  return { path: created.path, stat: created.stat };
}

/**
 * Resolves when `path` (or, with scope 'children', any child of it) is deleted after `afterRevision` (the
 * revision at which it was seen). The watch replays
 * history from there, so a deletion between the read and the watch is not missed. If that history was
 * compacted, resolves too: the caller looks at the queue again.
 */
export async function waitForDeletion(client: Client, path: string, afterRevision: number, signal: AbortSignal, scope: 'node' | 'children' = 'node'): Promise<void> {
  const stream = client.watch(path, { scope, fromRevision: afterRevision + 1, signal });
  try {
    for await (const item of stream) {
      if ('type' in item && item.type === 'delete') return;
    }
    signal.throwIfAborted();
  } catch (error) {
    if (error instanceof CompactedError) return;
    throw error;
  } finally {
    stream.finish(null);
  }
}

/** Combines the caller's signal, a timeout and the session's lifetime into one signal. */
export function combinedSignal(session: Session, options: { signal?: AbortSignal; timeoutMs?: number }): AbortSignal {
  const signals: AbortSignal[] = [session.signal];
  if (options.signal !== undefined) signals.push(options.signal);
  if (options.timeoutMs !== undefined) signals.push(AbortSignal.timeout(options.timeoutMs));
  return AbortSignal.any(signals);
}

/** Turns an abort into the SDK's error: timeout, session expiry, or the caller's abort. */
export function abortError(signal: AbortSignal, what: string): SynodError {
  const reason: unknown = signal.reason;
  if (reason instanceof SynodError) return reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') return new SynodError('timeout', `${what} timed out`);
  return new SynodError('aborted', `${what} was aborted`);
}
