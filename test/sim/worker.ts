// A simulation worker process: runs the batches of seeds its parent sends and answers with their totals.

import { runSeeds } from './batch.ts';
import type { WorkerRequest } from './pool.ts';

process.on('message', (request: WorkerRequest | { type: 'exit' }) => {
  if (request.type === 'exit') {
    process.disconnect();
    return;
  }
  const totals = runSeeds(request.start, request.count, request.options, request.stopAtFailure);
  process.send!({ type: 'done', totals });
});
