// The hierarchical namespace: nodes, path rules, and the node-level operations (create, set, delete, sweep,
// reads). Every write validates everything first and only then mutates, so a failed operation changes nothing;
// inside a transaction each mutation also records its undo step in a journal. Writes cost O(path depth) plus
// the nodes they remove; nothing copies the tree.

import type {
  ChildrenResult,
  CommandError,
  CreateOp,
  CreateResult,
  DeleteOp,
  DeleteResult,
  GetOpResult,
  RangeResult,
  SetOp,
  SetResult,
} from './commands.ts';
import { failure } from './commands.ts';
import type { StateConfig } from './config.ts';
import { invariant } from './errors.ts';
import type { Lease, LeaseTable } from './leases.ts';
import type { LeaseId, NodeMode, NodeView, Revision, Stat, WatchEvent } from './types.ts';

/** Undo steps of a running transaction, run in reverse to roll it back. */
export type Journal = (() => void)[];

/** The state of the command being applied, shared by the operations it runs. */
export interface MutationContext {
  /** The revision the command commits at if it changes the tree. */
  revision: Revision;
  timeMs: number;
  events: WatchEvent[];
  journal: Journal | null;
}

export const SEQUENCE_DIGITS = 10;
export const SEQUENCE_MAX = 9_999_999_999;
export const EMPTY_DATA: Uint8Array = new Uint8Array(0);
const NO_NAMES: readonly string[] = Object.freeze([]);
/** Above this many children a sorted-name cache is dropped rather than spliced, to keep writes O(depth). */
const SORTED_SPLICE_MAX = 1024;

export class TreeNode {
  children: Map<string, TreeNode> | null = null;
  /** The children's names, sorted; a cache, null when it must be rebuilt. */
  sortedNames: string[] | null = null;
  version = 0;
  cversion = 0;
  /** The next sequence number for a sequential child; never decreases while this node lives. */
  sequenceNext = 0;

  constructor(
    readonly name: string,
    readonly parent: TreeNode | null,
    public data: Uint8Array,
    readonly createRevision: Revision,
    public modRevision: Revision,
    readonly ephemeralOwner: LeaseId | 0,
    readonly mode: NodeMode,
    readonly sequential: boolean,
    readonly ttlMs: number,
    readonly ctimeMs: number,
    public mtimeMs: number,
  ) {}

  get numChildren(): number {
    return this.children === null ? 0 : this.children.size;
  }
}

export function statOf(node: TreeNode): Stat {
  return {
    createRevision: node.createRevision,
    modRevision: node.modRevision,
    version: node.version,
    cversion: node.cversion,
    ephemeralOwner: node.ephemeralOwner,
    numChildren: node.children === null ? 0 : node.children.size,
    dataLength: node.data.length,
    mode: node.mode,
    sequential: node.sequential,
    ttlMs: node.ttlMs,
    ctimeMs: node.ctimeMs,
    mtimeMs: node.mtimeMs,
  };
}

/** The absolute path of a node, by walking to the root: O(depth). */
export function pathOf(node: TreeNode): string {
  if (node.parent === null) return '/';
  let path = '';
  for (let n: TreeNode = node; n.parent !== null; n = n.parent) path = '/' + n.name + path;
  return path;
}

export function childPath(parentPath: string, name: string): string {
  return parentPath === '/' ? '/' + name : parentPath + '/' + name;
}

export function formatSequence(counter: number): string {
  return String(counter).padStart(SEQUENCE_DIGITS, '0');
}

// ---------------------------------------------------------------------------------------------------------
// Paths

const pathProblems = [
  '',
  'a path is a string starting with /',
  'a path has no empty segment',
  'a path has no trailing slash',
  '. and .. are not segments',
  'a path has no NUL character',
  'a path must be valid UTF-16 (no lone surrogate)',
  'the path is too long',
  'the path is too deep',
  // What a lone surrogate or ill-formed UTF-8 decodes to (U+FFFD) and the other specials; ZooKeeper refuses them too.
  'a path has no character in U+FFF0..U+FFFF (a lone surrogate or ill-formed UTF-8 arrives as U+FFFD)',
] as const;

/**
 * The UTF-8 length of a valid path (at least 1), or minus a problem code for `pathProblemMessage`.
 * One pass, no allocation.
 */
export function pathBytes(path: unknown, limits: Pick<StateConfig, 'pathBytesMax' | 'pathDepthMax'>): number {
  if (typeof path !== 'string') return -1;
  const length = path.length;
  if (length === 0 || path.charCodeAt(0) !== 0x2f) return -1;
  if (length === 1) return 1;
  if (length > limits.pathBytesMax) return -7;
  let bytes = 1;
  let depth = 0;
  let segmentStart = 1;
  for (let i = 1; i <= length; i++) {
    const c = i < length ? path.charCodeAt(i) : 0x2f;
    if (c === 0x2f) {
      const segmentLength = i - segmentStart;
      if (segmentLength === 0) return i === length ? -3 : -2;
      if (
        path.charCodeAt(segmentStart) === 0x2e &&
        (segmentLength === 1 || (segmentLength === 2 && path.charCodeAt(segmentStart + 1) === 0x2e))
      ) {
        return -4;
      }
      depth++;
      segmentStart = i + 1;
      if (i < length) bytes++;
    } else if (c < 0x80) {
      if (c === 0) return -5;
      bytes++;
    } else if (c < 0x800) {
      bytes += 2;
    } else if (c >= 0xd800 && c <= 0xdbff) {
      const low = i + 1 < length ? path.charCodeAt(i + 1) : 0;
      if (low < 0xdc00 || low > 0xdfff) return -6;
      bytes += 4;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return -6;
    } else if (c >= 0xfff0) {
      return -9;
    } else {
      bytes += 3;
    }
  }
  if (bytes > limits.pathBytesMax) return -7;
  if (depth > limits.pathDepthMax) return -8;
  return bytes;
}

export function pathProblemMessage(code: number): string {
  return pathProblems[-code] ?? 'invalid path';
}

/** Why `path` is not a valid path under `limits`, or null. */
export function pathProblem(path: unknown, limits: Pick<StateConfig, 'pathBytesMax' | 'pathDepthMax'>): string | null {
  const bytes = pathBytes(path, limits);
  return bytes < 0 ? pathProblemMessage(bytes) : null;
}

/** True for a valid single segment (a child name). */
export function isValidName(name: string): boolean {
  return pathBytes('/' + name, { pathBytesMax: Number.MAX_SAFE_INTEGER, pathDepthMax: 1 }) > 0;
}

function upperBound(names: readonly string[], name: string): number {
  let low = 0;
  let high = names.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((names[mid] as string) <= name) low = mid + 1;
    else high = mid;
  }
  return low;
}

function lowerBound(names: readonly string[], name: string): number {
  let low = 0;
  let high = names.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((names[mid] as string) < name) low = mid + 1;
    else high = mid;
  }
  return low;
}

// ---------------------------------------------------------------------------------------------------------
// The tree

export class Tree {
  readonly root: TreeNode;
  /** Every TTL node in the tree, for `sweep`. Iteration order is never observable. */
  readonly ttlNodes = new Set<TreeNode>();

  constructor(
    readonly config: StateConfig,
    readonly leases: LeaseTable,
  ) {
    this.root = new TreeNode('', null, EMPTY_DATA, 0 as Revision, 0 as Revision, 0, 'persistent', false, 0, 0, 0);
  }

  /** The node at a valid path, or undefined. O(depth). */
  lookup(path: string): TreeNode | undefined {
    if (path === '/') return this.root;
    let node = this.root;
    let start = 1;
    for (;;) {
      const children = node.children;
      if (children === null) return undefined;
      const slash = path.indexOf('/', start);
      const next = children.get(slash === -1 ? path.substring(start) : path.substring(start, slash));
      if (next === undefined) return undefined;
      if (slash === -1) return next;
      node = next;
      start = slash + 1;
    }
  }

  /** The children's names in order. The array is the cache: callers must not mutate it. */
  sortedNames(node: TreeNode): readonly string[] {
    const children = node.children;
    if (children === null || children.size === 0) return NO_NAMES;
    let names = node.sortedNames;
    if (names === null) {
      names = [...children.keys()].sort();
      node.sortedNames = names;
    }
    return names;
  }

  // -------------------------------------------------------------------------------------------------------
  // Writes

  create(ctx: MutationContext, op: CreateOp): CreateResult | CommandError {
    const path = op.path;
    const bytes = pathBytes(path, this.config);
    if (bytes < 0) return failure('invalid_path', pathProblemMessage(bytes), path);
    if (op.data.length > this.config.dataBytesMax) {
      return failure('value_too_large', `data is larger than ${this.config.dataBytesMax} bytes`, path);
    }
    let lease: Lease | null = null;
    if (op.mode === 'ephemeral') {
      lease = this.leases.get(op.leaseId ?? 0) ?? null;
      if (lease === null) return failure('lease_not_found', `lease ${op.leaseId} does not exist`, path);
    }
    if (path === '/') return failure('exists', 'the root always exists', path);

    // Walk down the existing ancestors; `missingFrom` is where the first missing segment starts.
    let parent = this.root;
    let start = 1;
    let missingFrom = -1;
    for (;;) {
      const slash = path.indexOf('/', start);
      if (slash === -1) break;
      const next = parent.children === null ? undefined : parent.children.get(path.substring(start, slash));
      if (next === undefined) {
        missingFrom = start;
        break;
      }
      parent = next;
      start = slash + 1;
    }
    if (parent.mode === 'ephemeral') {
      return failure('no_children_for_ephemerals', 'an ephemeral node cannot have children', path);
    }
    if (missingFrom !== -1 && !op.parents) return failure('not_found', 'the parent does not exist', path);

    let name = path.substring(path.lastIndexOf('/') + 1);
    let createdPath = path;
    if (op.sequential) {
      const counter = missingFrom === -1 ? parent.sequenceNext : 0;
      if (counter > SEQUENCE_MAX) return failure('bad_request', 'the parent has used every sequence number', path);
      if (bytes + SEQUENCE_DIGITS > this.config.pathBytesMax) {
        return failure('invalid_path', 'the path is too long with its sequence suffix', path);
      }
      const suffix = formatSequence(counter);
      name += suffix;
      createdPath += suffix;
    }
    if (missingFrom === -1 && parent.children !== null && parent.children.has(name)) {
      return failure('exists', 'the node exists', createdPath);
    }

    // Nothing can fail from here on.
    if (missingFrom !== -1) parent = this.createAncestors(ctx, parent, path, missingFrom);
    if (op.sequential) this.bumpSequence(ctx.journal, parent);
    const node = new TreeNode(
      name,
      parent,
      op.data,
      ctx.revision,
      ctx.revision,
      lease === null ? 0 : lease.id,
      op.mode,
      op.sequential,
      op.ttlMs ?? 0,
      ctx.timeMs,
      ctx.timeMs,
    );
    this.attach(ctx.journal, parent, node);
    if (lease !== null) this.leases.attachNode(ctx.journal, lease, node);
    if (op.mode === 'ttl') this.addTtl(ctx.journal, node);
    const stat = statOf(node);
    ctx.events.push({ type: 'create', path: createdPath, revision: ctx.revision, stat, data: op.data, prevData: null });
    return { ok: true, op: 'create', path: createdPath, stat };
  }

  private createAncestors(ctx: MutationContext, from: TreeNode, path: string, start: number): TreeNode {
    let parent = from;
    for (;;) {
      const slash = path.indexOf('/', start);
      if (slash === -1) return parent;
      const node = new TreeNode(
        path.substring(start, slash),
        parent,
        EMPTY_DATA,
        ctx.revision,
        ctx.revision,
        0,
        'persistent',
        false,
        0,
        ctx.timeMs,
        ctx.timeMs,
      );
      this.attach(ctx.journal, parent, node);
      const event: WatchEvent = {
        type: 'create',
        path: path.substring(0, slash),
        revision: ctx.revision,
        stat: statOf(node),
        data: EMPTY_DATA,
        prevData: null,
      };
      ctx.events.push(event);
      parent = node;
      start = slash + 1;
    }
  }

  set(ctx: MutationContext, op: SetOp): SetResult | CommandError {
    const path = op.path;
    const bytes = pathBytes(path, this.config);
    if (bytes < 0) return failure('invalid_path', pathProblemMessage(bytes), path);
    if (op.data.length > this.config.dataBytesMax) {
      return failure('value_too_large', `data is larger than ${this.config.dataBytesMax} bytes`, path);
    }
    const node = this.lookup(path);
    if (node === undefined) return failure('not_found', 'the node does not exist', path);
    if (op.expectedVersion !== undefined && op.expectedVersion !== node.version) {
      return failure('bad_version', `the version is ${node.version}, not ${op.expectedVersion}`, path);
    }
    const prevData = node.data;
    this.setData(ctx, node, op.data);
    const stat = statOf(node);
    ctx.events.push({ type: 'set', path, revision: ctx.revision, stat, data: node.data, prevData });
    return { ok: true, op: 'set', stat };
  }

  delete(ctx: MutationContext, op: DeleteOp): DeleteResult | CommandError {
    const path = op.path;
    const bytes = pathBytes(path, this.config);
    if (bytes < 0) return failure('invalid_path', pathProblemMessage(bytes), path);
    if (path === '/') return failure('bad_request', 'the root cannot be deleted', path);
    const node = this.lookup(path);
    if (node === undefined) return failure('not_found', 'the node does not exist', path);
    if (op.expectedVersion !== undefined && op.expectedVersion !== node.version) {
      return failure('bad_version', `the version is ${node.version}, not ${op.expectedVersion}`, path);
    }
    if (node.numChildren > 0 && !op.recursive) return failure('not_empty', 'the node has children', path);
    return { ok: true, op: 'delete', deleted: this.removeNode(ctx, node, path) };
  }

  /** Removes an attached node, its subtree, and the containers it leaves empty. Returns how many nodes went. */
  removeNode(ctx: MutationContext, node: TreeNode, path: string): number {
    const parent = node.parent;
    invariant(parent !== null, 'the root cannot be removed');
    const removed = this.removeSubtree(ctx, node, path);
    this.detach(ctx.journal, parent, node);
    return removed + this.removeEmptyContainers(ctx, parent);
  }

  /**
   * Emits delete events children first (in name order) and forgets lease and TTL links. Only the subtree's top
   * is detached (by the caller): the subtree stays intact, so undoing is reattaching the top.
   */
  private removeSubtree(ctx: MutationContext, node: TreeNode, path: string): number {
    let removed = 1;
    const children = node.children;
    if (children !== null && children.size > 0) {
      for (const name of this.sortedNames(node)) {
        removed += this.removeSubtree(ctx, children.get(name) as TreeNode, path + '/' + name);
      }
    }
    this.forget(ctx.journal, node);
    const event: WatchEvent = {
      type: 'delete',
      path,
      revision: ctx.revision,
      stat: statOf(node),
      data: node.data,
      prevData: null,
    };
    ctx.events.push(event);
    return removed;
  }

  /** A container goes in the same revision as its last child; its parent may be a container too. */
  private removeEmptyContainers(ctx: MutationContext, from: TreeNode): number {
    let removed = 0;
    let node = from;
    while (node.mode === 'container' && node.parent !== null && node.numChildren === 0) {
      const parent: TreeNode = node.parent;
      const path = pathOf(node);
      this.detach(ctx.journal, parent, node);
      const stat = statOf(node);
      ctx.events.push({ type: 'delete', path, revision: ctx.revision, stat, data: node.data, prevData: null });
      removed++;
      node = parent;
    }
    return removed;
  }

  /**
   * Removes every TTL node unmodified for its TTL (timeMs - mtimeMs >= ttlMs) that has no children, deepest
   * first, so a TTL parent whose TTL children all expire goes in the same sweep. O(TTL nodes).
   */
  sweep(ctx: MutationContext): number {
    const due: { node: TreeNode; path: string }[] = [];
    for (const node of this.ttlNodes) {
      if (ctx.timeMs - node.mtimeMs >= node.ttlMs) due.push({ node, path: pathOf(node) });
    }
    if (due.length === 0) return 0;
    due.sort((a, b) => (a.path < b.path ? 1 : a.path > b.path ? -1 : 0));
    let removed = 0;
    for (const { node, path } of due) {
      if (node.numChildren === 0) removed += this.removeNode(ctx, node, path);
    }
    return removed;
  }

  // -------------------------------------------------------------------------------------------------------
  // Reads

  get(path: string): GetOpResult | CommandError {
    const bytes = pathBytes(path, this.config);
    if (bytes < 0) return failure('invalid_path', pathProblemMessage(bytes), path);
    const node = this.lookup(path);
    const view = node === undefined ? null : { path, stat: statOf(node), data: node.data };
    return { ok: true, op: 'get', path, node: view };
  }

  children(path: string, withStats: boolean, revision: Revision): ChildrenResult | CommandError {
    const bytes = pathBytes(path, this.config);
    if (bytes < 0) return failure('invalid_path', pathProblemMessage(bytes), path);
    const node = this.lookup(path);
    if (node === undefined) return failure('not_found', 'the node does not exist', path);
    const names = this.sortedNames(node);
    let stats: Stat[] | null = null;
    if (withStats) {
      const children = node.children as Map<string, TreeNode> | null;
      stats = names.map((name) => statOf(children?.get(name) as TreeNode));
    }
    return { ok: true, op: 'children', revision, names: names.slice(), stats };
  }

  /**
   * Up to `limit` nodes of the subtree at `path` in pre-order (children by name), starting after the path
   * `after` (which need not exist any more). O(depth * log(fan-out) + limit).
   */
  range(path: string, limit: number, after: string | undefined, revision: Revision): RangeResult | CommandError {
    const bytes = pathBytes(path, this.config);
    if (bytes < 0) return failure('invalid_path', pathProblemMessage(bytes), path);
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > this.config.rangeLimitMax) {
      return failure('bad_request', `limit must be an integer in [1, ${this.config.rangeLimitMax}]`, path);
    }
    const top = this.lookup(path);
    if (top === undefined) return failure('not_found', 'the node does not exist', path);

    const nodes: NodeView[] = [];
    const stack: RangeFrame[] = [];
    if (after === undefined) {
      nodes.push({ path, stat: statOf(top), data: top.data });
      stack.push({ node: top, path, names: this.sortedNames(top), next: 0 });
    } else {
      const afterBytes = pathBytes(after, this.config);
      if (afterBytes < 0) return failure('invalid_path', pathProblemMessage(afterBytes), after);
      const prefix = path === '/' ? '/' : path + '/';
      if (after !== path && !after.startsWith(prefix)) {
        return failure('bad_request', '`after` is outside the range', after);
      }
      this.seek(stack, top, path, after === path ? '' : after.substring(prefix.length));
    }
    while (stack.length > 0 && nodes.length < limit) {
      const frame = stack[stack.length - 1] as RangeFrame;
      if (frame.next >= frame.names.length) {
        stack.pop();
        continue;
      }
      const name = frame.names[frame.next++] as string;
      const node = frame.node.children?.get(name) as TreeNode;
      const nodePath = childPath(frame.path, name);
      nodes.push({ path: nodePath, stat: statOf(node), data: node.data });
      if (node.numChildren > 0) stack.push({ node, path: nodePath, names: this.sortedNames(node), next: 0 });
    }
    const more = stack.some((frame) => frame.next < frame.names.length);
    return { ok: true, op: 'range', revision, nodes, more };
  }

  /** Positions the range stack just after `relative` (segments below `top`; '' is `top` itself). */
  private seek(stack: RangeFrame[], top: TreeNode, topPath: string, relative: string): void {
    let node = top;
    let path = topPath;
    let start = 0;
    while (relative.length > 0) {
      const slash = relative.indexOf('/', start);
      const name = slash === -1 ? relative.substring(start) : relative.substring(start, slash);
      const names = this.sortedNames(node);
      stack.push({ node, path, names, next: upperBound(names, name) });
      const child = node.children?.get(name);
      if (child === undefined) return;
      node = child;
      path = childPath(path, name);
      if (slash === -1) break;
      start = slash + 1;
    }
    // `after` exists: its own subtree comes next.
    stack.push({ node, path, names: this.sortedNames(node), next: 0 });
  }

  // -------------------------------------------------------------------------------------------------------
  // Journaled primitives: every mutation of the tree goes through these.

  attach(journal: Journal | null, parent: TreeNode, child: TreeNode): void {
    let children = parent.children;
    if (children === null) {
      children = new Map();
      parent.children = children;
    }
    invariant(!children.has(child.name), () => `child ${child.name} already attached`);
    children.set(child.name, child);
    const cversion = parent.cversion;
    parent.cversion = cversion + 1;
    const names = parent.sortedNames;
    if (names !== null) {
      const last = names[names.length - 1];
      if (last === undefined || child.name > last) names.push(child.name);
      else if (names.length <= SORTED_SPLICE_MAX) names.splice(lowerBound(names, child.name), 0, child.name);
      else parent.sortedNames = null;
    }
    if (journal !== null) {
      const map = children;
      journal.push(() => {
        map.delete(child.name);
        parent.cversion = cversion;
        parent.sortedNames = null;
      });
    }
  }

  detach(journal: Journal | null, parent: TreeNode, child: TreeNode): void {
    const children = parent.children;
    invariant(children !== null && children.get(child.name) === child, () => `child ${child.name} is not attached`);
    children.delete(child.name);
    const cversion = parent.cversion;
    parent.cversion = cversion + 1;
    const names = parent.sortedNames;
    if (names !== null) {
      if (names[names.length - 1] === child.name) names.pop();
      else if (names[0] === child.name) names.shift();
      else if (names.length <= SORTED_SPLICE_MAX) names.splice(lowerBound(names, child.name), 1);
      else parent.sortedNames = null;
    }
    if (journal !== null) {
      journal.push(() => {
        children.set(child.name, child);
        parent.cversion = cversion;
        parent.sortedNames = null;
      });
    }
  }

  private setData(ctx: MutationContext, node: TreeNode, data: Uint8Array): void {
    const { data: oldData, version, modRevision, mtimeMs } = node;
    node.data = data;
    node.version = version + 1;
    node.modRevision = ctx.revision;
    node.mtimeMs = ctx.timeMs;
    if (ctx.journal !== null) {
      ctx.journal.push(() => {
        node.data = oldData;
        node.version = version;
        node.modRevision = modRevision;
        node.mtimeMs = mtimeMs;
      });
    }
  }

  private bumpSequence(journal: Journal | null, node: TreeNode): void {
    const counter = node.sequenceNext;
    node.sequenceNext = counter + 1;
    if (journal !== null) journal.push(() => (node.sequenceNext = counter));
  }

  private addTtl(journal: Journal | null, node: TreeNode): void {
    this.ttlNodes.add(node);
    if (journal !== null) journal.push(() => this.ttlNodes.delete(node));
  }

  /** Drops a removed node's links outside the tree (its lease, the TTL set). */
  private forget(journal: Journal | null, node: TreeNode): void {
    if (node.mode === 'ttl') {
      this.ttlNodes.delete(node);
      if (journal !== null) journal.push(() => this.ttlNodes.add(node));
    } else if (node.mode === 'ephemeral') {
      this.leases.detachNode(journal, node);
    }
  }
}

interface RangeFrame {
  readonly node: TreeNode;
  readonly path: string;
  readonly names: readonly string[];
  next: number;
}
