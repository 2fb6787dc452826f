// Watch streams served from this member's applied state. A watch first replays history (or the current
// state, with `initial`), then receives live events; both happen in one synchronous step, so no event can
// fall between them. Events of one revision always travel together, in revision order, each once.

import type { StateMachine } from '../state/machine.ts';
import { childPath } from '../state/tree.ts';
import type { NodeView, WatchEvent, WatchFilter } from '../state/types.ts';
import type { ClientConnection } from '../transport/client.ts';

export interface WatchSpec {
  readonly filter: WatchFilter;
  /** Deliver events with revision >= fromRevision; 0 means from the next revision. */
  readonly fromRevision: number;
  readonly initial: boolean;
  readonly oneShot: boolean;
  readonly prevData: boolean;
}

interface Watch {
  readonly id: number;
  readonly connection: ClientConnection;
  readonly spec: WatchSpec;
  /** The last revision this stream has been told about (events or progress). */
  notified: number;
}

/** Events per push when replaying history, so one push stays a bounded frame. */
const replayEventsPerPush = 1000;
/** Nodes per push of an initial state. */
const initialNodesPerPush = 1000;

export class WatchHub {
  private readonly byNode = new Map<string, Set<Watch>>();
  private readonly byParent = new Map<string, Set<Watch>>();
  private readonly bySubtree = new Map<string, Set<Watch>>();
  private readonly byConnection = new Map<ClientConnection, Map<number, Watch>>();
  private sequence = 0;

  /** `source.machine` is read at each use: a snapshot install replaces the machine. */
  constructor(private readonly source: { readonly machine: StateMachine }) {}

  private get machine(): StateMachine {
    return this.source.machine;
  }

  watchCount(connection: ClientConnection): number {
    return this.byConnection.get(connection)?.size ?? 0;
  }

  /**
   * Starts a watch: `accepted(id)` runs first (the caller answers the request), then the replay, then the
   * watch joins the live index, all in one synchronous step. Returns the oldest revision still kept instead
   * when `fromRevision` is older than history and `initial` was not asked.
   */
  add(connection: ClientConnection, spec: WatchSpec, accepted: (id: number) => void): { compacted: number } | null {
    const current = this.machine.revision;
    const replay = spec.fromRevision > 0 && spec.fromRevision <= current ? this.machine.history(spec.fromRevision, spec.filter) : null;
    if (replay !== null && !replay.ok && !spec.initial) return { compacted: replay.oldestRevision };
    const watch: Watch = { id: ++this.sequence, connection, spec, notified: current };
    accepted(watch.id);
    if (replay !== null && replay.ok) {
      // Resuming: history covers the gap, so events alone continue the stream.
      this.sendGrouped(watch, replay.events);
      if (spec.oneShot && replay.events.length > 0) return null;
    } else if (spec.initial) {
      // The current state, then live events: a cache built on this stream never has a gap.
      const nodes = this.stateOf(spec.filter);
      for (let i = 0; i < nodes.length || i === 0; i += initialNodesPerPush) {
        const part = nodes.slice(i, i + initialNodesPerPush);
        connection.push({ watch: watch.id, snapshot: part, revision: current, done: i + initialNodesPerPush >= nodes.length });
      }
    }
    watch.notified = current;
    this.index(watch);
    return null;
  }

  private stateOf(filter: WatchFilter): NodeView[] {
    const machine = this.machine;
    if (filter.kind === 'node') {
      const got = machine.get(filter.path);
      return got.ok ? [got.node] : [];
    }
    const out: NodeView[] = [];
    if (filter.kind === 'children') {
      const children = machine.children(filter.path, false);
      if (!children.ok) return out;
      for (const name of children.names) {
        const got = machine.get(childPath(filter.path, name));
        if (got.ok) out.push(got.node);
      }
      return out;
    }
    let after: string | undefined;
    for (;;) {
      const page = machine.range(filter.path, 10_000, after);
      if (!page.ok) return out;
      for (const node of page.nodes) out.push(node);
      if (!page.more) return out;
      after = page.nodes[page.nodes.length - 1]!.path;
    }
  }

  /** Pushes events grouped by revision, a bounded number per push, never splitting a revision. */
  private sendGrouped(watch: Watch, events: readonly WatchEvent[]): void {
    let start = 0;
    while (start < events.length) {
      let end = Math.min(events.length, start + replayEventsPerPush);
      while (end < events.length && events[end]!.revision === events[end - 1]!.revision) end++;
      const part = events.slice(start, end).map((event) => this.shape(watch, event));
      const revision = events[end - 1]!.revision;
      watch.connection.push({ watch: watch.id, events: part, revision });
      watch.notified = revision;
      start = end;
    }
  }

  private shape(watch: Watch, event: WatchEvent): WatchEvent {
    return watch.spec.prevData || event.prevData === null ? event : { ...event, prevData: null };
  }

  cancel(connection: ClientConnection, id: number): boolean {
    const watch = this.byConnection.get(connection)?.get(id);
    if (watch === undefined) return false;
    this.unindex(watch);
    return true;
  }

  closeConnection(connection: ClientConnection): void {
    const watches = this.byConnection.get(connection);
    if (watches === undefined) return;
    for (const watch of [...watches.values()]) this.unindex(watch);
  }

  /** Delivers the events of one applied command (all at one revision) to every matching watch. */
  publish(events: readonly WatchEvent[]): void {
    if (events.length === 0 || this.byConnection.size === 0) return;
    const matched = new Map<Watch, WatchEvent[]>();
    for (const event of events) {
      const add = (watches: Set<Watch> | undefined): void => {
        if (watches === undefined) return;
        for (const watch of watches) {
          let list = matched.get(watch);
          if (list === undefined) matched.set(watch, (list = []));
          list.push(this.shape(watch, event));
        }
      };
      add(this.byNode.get(event.path));
      add(this.byParent.get(parentOf(event.path)));
      for (let path = event.path; ; path = parentOf(path)) {
        add(this.bySubtree.get(path));
        if (path === '/') break;
      }
    }
    const revision = events[0]!.revision;
    for (const [watch, list] of matched) {
      watch.connection.push({ watch: watch.id, events: list, revision });
      watch.notified = revision;
      if (watch.spec.oneShot) this.unindex(watch);
    }
  }

  /** Tells idle streams how far this member has applied, so a watcher knows it missed nothing up to there. */
  progress(): void {
    const revision = this.machine.revision;
    for (const watches of this.byConnection.values()) {
      for (const watch of watches.values()) {
        if (watch.notified >= revision) continue;
        watch.notified = revision;
        watch.connection.push({ watch: watch.id, progress: revision });
      }
    }
  }

  /** A snapshot replaced the state: streams cannot continue seamlessly and are told to resume. */
  resetAll(reason: string): void {
    for (const [connection, watches] of this.byConnection) {
      for (const watch of [...watches.values()]) {
        connection.push({ watch: watch.id, canceled: { code: 'unavailable', message: reason } });
        this.unindex(watch);
      }
    }
  }

  private index(watch: Watch): void {
    const map = watch.spec.filter.kind === 'node' ? this.byNode : watch.spec.filter.kind === 'children' ? this.byParent : this.bySubtree;
    let set = map.get(watch.spec.filter.path);
    if (set === undefined) map.set(watch.spec.filter.path, (set = new Set()));
    set.add(watch);
    let mine = this.byConnection.get(watch.connection);
    if (mine === undefined) this.byConnection.set(watch.connection, (mine = new Map()));
    mine.set(watch.id, watch);
  }

  private unindex(watch: Watch): void {
    const map = watch.spec.filter.kind === 'node' ? this.byNode : watch.spec.filter.kind === 'children' ? this.byParent : this.bySubtree;
    const set = map.get(watch.spec.filter.path);
    set?.delete(watch);
    if (set?.size === 0) map.delete(watch.spec.filter.path);
    const mine = this.byConnection.get(watch.connection);
    mine?.delete(watch.id);
    if (mine?.size === 0) this.byConnection.delete(watch.connection);
  }
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '/' : path.slice(0, slash);
}
