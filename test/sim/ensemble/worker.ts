// An ensemble simulation worker process: runs the batches of seeds its parent sends, answers with their totals.

import { runEnsembleSeeds } from './batch.ts';
import type { EnsembleWorkerRequest } from './pool.ts';

// Errors are part of the simulated traffic (no_leader, timeouts): their stack traces are not worth their cost.
Error.stackTraceLimit = 0;

process.on('message', (request: EnsembleWorkerRequest) => {
  if (request.type === 'exit') {
    process.disconnect();
    return;
  }
  void runEnsembleSeeds(request.start, request.count, request.options, request.stopAtFailure).then((totals) => process.send!({ type: 'done', totals }));
});
