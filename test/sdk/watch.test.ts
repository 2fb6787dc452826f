// A watch stream ends when its signal aborts, whenever that happens, and never leaves a server-side watch behind.

import { describe, expect, it } from 'vitest';
import { WatchStream, type WatchHost } from '../../sdk/watch.ts';

function fakeHost(): WatchHost & { cancelled: number[]; answer: (watchId: number) => void } {
  let answer: (watchId: number) => void = () => {};
  return {
    cancelled: [],
    answer: (watchId) => answer(watchId),
    startWatch: () => new Promise((resolve) => (answer = (watchId) => resolve({ watchId, revision: 7 }))),
    cancelWatch(watchId) {
      this.cancelled.push(watchId);
    },
    forget: () => {},
  };
}

describe('watch stream and its signal', () => {
  it('ends at once with aborted when opened with a signal already aborted', async () => {
    const stream = new WatchStream('/a', { signal: AbortSignal.abort() }, fakeHost());
    await expect(stream.next()).rejects.toMatchObject({ code: 'aborted' });
  });

  it('cancels the server-side watch that starts after the signal fired', async () => {
    const host = fakeHost();
    const controller = new AbortController();
    const stream = new WatchStream('/a', { signal: controller.signal }, host);
    const resumed = stream.resume();
    controller.abort();
    host.answer(42);
    await resumed;
    expect(host.cancelled).toEqual([42]);
    await expect(stream.next()).rejects.toMatchObject({ code: 'aborted' });
  });
});
