// A priority queue of simulated events ordered by time, ties broken by insertion order so a seed replays exactly.

interface Slot<T> {
  readonly time: number;
  readonly seq: number;
  readonly item: T;
}

/** A binary min-heap on (time, seq). */
export class EventQueue<T> {
  private readonly heap: Slot<T>[] = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  push(time: number, item: T): void {
    const heap = this.heap;
    const slot: Slot<T> = { time, seq: this.seq++, item };
    let i = heap.length;
    heap.push(slot);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent]!;
      if (!before(slot, p)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = slot;
  }

  /** The earliest event, or undefined when the queue is empty. */
  pop(): { time: number; item: T } | undefined {
    const heap = this.heap;
    const top = heap[0];
    if (top === undefined) return undefined;
    const last = heap.pop()!;
    if (heap.length > 0) {
      let i = 0;
      const n = heap.length;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= n) break;
        const right = left + 1;
        const child = right < n && before(heap[right]!, heap[left]!) ? right : left;
        if (!before(heap[child]!, last)) break;
        heap[i] = heap[child]!;
        i = child;
      }
      heap[i] = last;
    }
    return { time: top.time, item: top.item };
  }
}

function before<T>(a: Slot<T>, b: Slot<T>): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}
