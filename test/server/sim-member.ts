// One real runtime member over the simulator's clock and disk, with its peers reduced to names: what it sends
// them is recorded, and the test speaks for them.

import { seededRandom } from '../../server/raft/random.ts';
import { resolveMemberConfig } from '../../server/runtime/config.ts';
import { bootstrapIfNew, Member } from '../../server/runtime/member.ts';
import type { PeerItem, PeerNetwork, PeerReceiver } from '../../server/runtime/peers.ts';
import { openLog } from '../../server/storage/log.ts';
import { SimDisk } from '../../server/storage/sim-disk.ts';
import { Owner, Scheduler } from '../sim/ensemble/scheduler.ts';

export const electionMs = 10 * 20;

export interface Harness {
  member: Member;
  scheduler: Scheduler;
  /** What the member sent, other than Raft messages. */
  sent: Array<{ to: string; item: PeerItem }>;
  /** Called as the member sends anything but a Raft message, before `sent` records it. */
  onSend: ((to: string, item: PeerItem) => void) | null;
  disk: SimDisk;
  from: (peer: string, item: PeerItem) => void;
  stopped: () => boolean;
}

/** Member n1 of `cluster` (the others exist only as names); it waits until it leads when it is alone. */
export async function memberOf(cluster: readonly string[]): Promise<Harness> {
  const scheduler = new Scheduler(seededRandom(1));
  const owner = new Owner('n1');
  const clock = scheduler.memberClock(owner, 1);
  const initialCluster = cluster.map((name) => `${name}=sim-${name}:2`).join(',');
  const config = resolveMemberConfig({ name: 'n1', dataDir: '/data', listenClient: 'sim-n1:1', listenPeer: 'sim-n1:2', initialCluster, tickMs: 10, electionTicks: 20, heartbeatTicks: 2 });
  const disk = new SimDisk({ fileBytesMax: 64 << 20 });
  const log = await openLog({ dir: '/data', disk: disk.mount(), segmentBytesMax: 1 << 20 });
  await bootstrapIfNew(log, config);
  let receiver: PeerReceiver<PeerItem> | null = null;
  const sent: Harness['sent'] = [];
  const peers: PeerNetwork<PeerItem> = {
    attach: (r) => void (receiver = r),
    setPeers: () => {},
    send: (to, item) => {
      if (item.kind === 'raft') return;
      harness.onSend?.(to, item);
      sent.push({ to, item });
    },
    close: () => Promise.resolve(),
  };
  const member = new Member(config, log, { clock, wallClock: () => 1_700_000_000_000 + clock.now(), random: seededRandom(2), peers });
  let done = false;
  const harness: Harness = { member, scheduler, sent, onSend: null, disk, from: (peer, item) => receiver!.onItems(peer, [item]), stopped: () => done };
  void member.stopped.then(() => (done = true));
  member.start();
  if (cluster.length === 1) await scheduler.run(scheduler.now + 5 * electionMs, () => member.consensus.role === 'leader');
  return harness;
}

export const singleMember = (): Promise<Harness> => memberOf(['n1']);

