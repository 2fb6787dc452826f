// The catalogue of workloads, in the order they run (memory last: it leaves a large data set behind).

import type { Workload } from './common.ts';
import { lockHandOff, watchFanOut } from './coordination.ts';
import { memory } from './memory.ts';
import { failover, sessionExpiry } from './resilience.ts';
import { concurrentWrites, linearizableReads, sequentialWrites, serializableReads } from './throughput.ts';

export const workloads: readonly Workload[] = [
  sequentialWrites,
  concurrentWrites,
  linearizableReads,
  serializableReads,
  watchFanOut,
  lockHandOff,
  failover,
  sessionExpiry,
  memory,
];
