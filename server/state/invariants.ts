// A full consistency check of a state machine, for tests, the simulator and snapshot restore: O(state size).
// Throws StateMachineError('invariant') naming the first violations found.

import { StateMachineError } from './errors.ts';
import type { StateMachine } from './machine.ts';
import type { TreeNode } from './tree.ts';
import { childPath, isValidName, SEQUENCE_DIGITS, SEQUENCE_MAX } from './tree.ts';

const REPORTED_MAX = 10;

export function checkInvariants(machine: StateMachine): void {
  const problems: string[] = [];
  const report = (message: string): void => {
    if (problems.length < REPORTED_MAX) problems.push(message);
  };
  checkTree(machine, report);
  checkHistory(machine, report);
  checkClients(machine, report);
  if (problems.length > 0) throw new StateMachineError('invariant', `state invariants broken: ${problems.join('; ')}`);
}

type Report = (message: string) => void;

function checkTree(machine: StateMachine, report: Report): void {
  const { tree, leaseTable: leases } = machine;
  const revision = machine.revision;
  const root = tree.root;
  if (root.parent !== null || root.name !== '' || root.mode !== 'persistent' || root.ephemeralOwner !== 0) {
    report('the root is malformed');
  }
  if (root.createRevision !== 0) report('the root has a create revision');

  let ttlCount = 0;
  let ephemeralCount = 0;
  const stack: { node: TreeNode; path: string }[] = [{ node: root, path: '/' }];
  while (stack.length > 0) {
    const { node, path } = stack.pop() as { node: TreeNode; path: string };
    checkNode(machine, node, path, report);
    if (node.mode === 'ttl') {
      ttlCount++;
      if (!tree.ttlNodes.has(node)) report(`${path}: a TTL node missing from the TTL set`);
    }
    if (node.mode === 'ephemeral') {
      ephemeralCount++;
      const lease = leases.get(node.ephemeralOwner);
      if (lease === undefined) report(`${path}: owned by missing lease ${node.ephemeralOwner}`);
      else if (!lease.nodes.has(node)) report(`${path}: missing from its lease's nodes`);
    } else if (node.ephemeralOwner !== 0) {
      report(`${path}: a ${node.mode} node has an ephemeral owner`);
    }
    const children = node.children;
    if (children === null) continue;
    if (node.mode === 'ephemeral' && children.size > 0) report(`${path}: an ephemeral node has children`);
    const cached = node.sortedNames;
    if (cached !== null) {
      const expected = [...children.keys()].sort();
      if (cached.length !== children.size || cached.some((name, i) => name !== expected[i])) {
        report(`${path}: sorted child names do not match its ${children.size} children`);
      }
    }
    for (const [name, child] of children) {
      const path2 = childPath(path, name);
      if (child.name !== name || child.parent !== node) report(`${path2}: not linked to its parent`);
      if (!isValidName(name)) report(`${path2}: invalid name`);
      if (child.sequential) {
        const suffix = Number(name.slice(-SEQUENCE_DIGITS));
        if (name.length <= SEQUENCE_DIGITS || !/^\d+$/.test(name.slice(-SEQUENCE_DIGITS))) {
          report(`${path2}: a sequential node without a sequence suffix`);
        } else if (suffix >= node.sequenceNext) {
          report(`${path2}: sequence suffix ${suffix} is not below the parent's counter ${node.sequenceNext}`);
        }
      }
      stack.push({ node: child, path: path2 });
    }
  }
  if (ttlCount !== tree.ttlNodes.size) report(`the TTL set has ${tree.ttlNodes.size} nodes, the tree ${ttlCount}`);
  let leaseNodes = 0;
  for (const lease of leases.byId.values()) {
    if (lease.id < 1 || lease.id > leases.idLast) report(`lease ${lease.id} is outside [1, ${leases.idLast}]`);
    if (!Number.isSafeInteger(lease.ttlMs) || lease.ttlMs < 1) report(`lease ${lease.id} has TTL ${lease.ttlMs}`);
    if (lease.kind !== 'session' && lease.clientId !== '') report(`lease ${lease.id} is tied to a client`);
    for (const node of lease.nodes) {
      leaseNodes++;
      if (node.mode !== 'ephemeral' || node.ephemeralOwner !== lease.id) {
        report(`lease ${lease.id} holds a node it does not own (${node.name})`);
      }
    }
  }
  if (leaseNodes !== ephemeralCount) {
    report(`leases hold ${leaseNodes} nodes, the tree has ${ephemeralCount} ephemerals`);
  }
  if (revision < 0) report('negative revision');
}

function checkNode(machine: StateMachine, node: TreeNode, path: string, report: Report): void {
  const revision = machine.revision;
  const counters = [node.createRevision, node.modRevision, node.version, node.cversion, node.sequenceNext];
  if (!counters.every((n) => Number.isSafeInteger(n) && n >= 0)) report(`${path}: a counter is not a natural number`);
  if (node.parent !== null && node.createRevision < 1) report(`${path}: create revision ${node.createRevision}`);
  if (node.createRevision > node.modRevision) report(`${path}: createRevision > modRevision`);
  if (node.modRevision > revision) report(`${path}: modRevision ${node.modRevision} > revision ${revision}`);
  if (node.version === 0 && node.modRevision !== node.createRevision) report(`${path}: modified at version 0`);
  if (node.ctimeMs > node.mtimeMs || node.mtimeMs > machine.timeMs) report(`${path}: times out of order`);
  if ((node.mode === 'ttl') !== node.ttlMs > 0) report(`${path}: ttlMs ${node.ttlMs} for a ${node.mode} node`);
  if (node.sequenceNext > SEQUENCE_MAX + 1) report(`${path}: sequence counter past its maximum`);
}

function checkHistory(machine: StateMachine, report: Report): void {
  const history = machine.eventHistory;
  const revision = machine.revision;
  if (history.oldestRevision < 1 || history.oldestRevision > revision + 1) {
    report(`history starts at ${history.oldestRevision} with revision ${revision}`);
  }
  let previous = 0;
  for (let i = 0; i < history.size; i++) {
    const event = history.at(i);
    if (event.revision < previous) report(`history event ${i} goes back to revision ${event.revision}`);
    if (event.revision > revision || event.revision < history.oldestRevision) {
      report(`history event ${i} at revision ${event.revision} is outside [${history.oldestRevision}, ${revision}]`);
    }
    if (event.data.length !== event.stat.dataLength) report(`history event ${i} data length differs from its stat`);
    previous = event.revision;
  }
}

function checkClients(machine: StateMachine, report: Report): void {
  const clients = machine.clients;
  const { clientsMax, clientResultsMax } = machine.config;
  if (clients.size > clientsMax) report(`${clients.size} clients remembered, limit ${clientsMax}`);
  for (const [clientId, record] of clients.records) {
    if (clientId === '') report('an idempotency record for the empty client id');
    if (!Number.isSafeInteger(record.low) || record.low < 0) report(`client ${clientId} has a bad mark`);
    if (record.results.size > clientResultsMax) report(`client ${clientId} keeps ${record.results.size} results`);
    let previous = -1;
    for (const [sequence, first] of record.results) {
      if (sequence < record.low || sequence <= previous) report(`client ${clientId} result ${sequence} is out of order`);
      if (first.revision > machine.revision) report(`client ${clientId} recorded at a future revision`);
      previous = sequence;
    }
    if (record.results.size > 0 && previous !== record.highest) report(`client ${clientId} highest sequence is stale`);
  }
}
