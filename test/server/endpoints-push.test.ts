// A member tells its clients the members' endpoints whenever the membership changes, so a client connected to
// one member for a long time follows the cluster (on one real runtime member over the simulator's clock and
// disk).

import { describe, expect, it } from 'vitest';
import type { ClientConnection } from '../../server/transport/client.ts';
import { protocolVersion } from '../../sdk/protocol/messages.ts';
import { electionMs, singleMember } from './sim-member.ts';

/** A client connection that keeps what the member pushes to it. */
function connection(id: number): ClientConnection & { received: unknown[] } {
  const received: unknown[] = [];
  return { id, open: true, received, push: (message) => void received.push(message) };
}

const pushes = (c: { received: unknown[] }): unknown[] => c.received.filter((m) => typeof m === 'object' && m !== null && 'endpoints' in m);

describe('endpoints announcements', () => {
  it('pushes the members\' client endpoints to every client that said hello when a member is added or removed, once per change', async () => {
    const { member, scheduler } = await singleMember();
    await scheduler.run(scheduler.now + electionMs); // n1 applies its own address
    const greeted = connection(1);
    const silent = connection(2);
    member.requests.open(greeted);
    member.requests.open(silent);
    member.requests.request(greeted, { id: 1, op: 'hello', version: protocolVersion, clientId: 'c1' });
    await scheduler.run(scheduler.now + electionMs, () => greeted.received.length > 0);
    expect(greeted.received[0]).toMatchObject({ id: 1, ok: true, result: { endpoints: ['sim-n1:1'] } });

    // The answer settles when the core applied the change; the announcement follows when the member has.
    const answered = (id: number) => () => greeted.received.some((m) => (m as { id?: number }).id === id);
    const announced = (count: number) => () => pushes(greeted).length >= count;
    member.requests.request(greeted, { id: 2, op: 'memberAdd', name: 'n2', peerUrl: 'sim-n2:2', clientUrl: 'sim-n2:1' });
    await scheduler.run(scheduler.now + 5 * electionMs, () => answered(2)() && announced(1)());
    expect(greeted.received.find((m) => (m as { id?: number }).id === 2)).toMatchObject({ ok: true });
    expect(pushes(greeted)).toEqual([{ endpoints: ['sim-n1:1', 'sim-n2:1'] }]);

    member.requests.request(greeted, { id: 3, op: 'memberRemove', name: 'n2' });
    await scheduler.run(scheduler.now + 5 * electionMs, () => answered(3)() && announced(2)());
    await scheduler.run(scheduler.now + 5 * electionMs); // anything more it would say
    expect(pushes(greeted)).toEqual([{ endpoints: ['sim-n1:1', 'sim-n2:1'] }, { endpoints: ['sim-n1:1'] }]);
    // A connection that has not said hello is not a client yet: it hears nothing it did not ask for.
    expect(silent.received).toEqual([]);
    await member.stop();
  });
});
