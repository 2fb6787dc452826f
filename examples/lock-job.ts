// A job that must never run twice at once: take the lock, do the work with every write fenced by the lock's
// token, release. Run several copies at once: they take turns, in the order they asked.
//
//   npm start                                                  # a local ensemble on 127.0.0.1:4401-4403
//   node --import tsx examples/lock-job.ts --name first & node --import tsx examples/lock-job.ts --name second
//
// Options: --endpoints HOST:PORT,... (default $SYNOD_ENDPOINTS, else the dev ensemble), --name (default
// job-PID), --lock (default jobs/nightly), --steps (default 5), --step-ms (default 200), --timeout-ms (how long to
// wait for the lock, default 60000). Exits 0 when the job ran, 1 when it could not take the lock or lost it.

import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { connect, json, jsonValue, SynodError, type Client, type Lock } from '../sdk/index.ts';
import { endpointsFrom, positiveInteger } from './args.ts';

const { values } = parseArgs({
  options: {
    endpoints: { type: 'string' },
    name: { type: 'string', default: `job-${process.pid}` },
    lock: { type: 'string', default: 'jobs/nightly' },
    steps: { type: 'string', default: '5' },
    'step-ms': { type: 'string', default: '200' },
    'timeout-ms': { type: 'string', default: '60000' },
  },
});
const name = values.name;
const steps = positiveInteger('steps', values.steps);
const stepMs = positiveInteger('step-ms', values['step-ms']);
const timeoutMs = positiveInteger('timeout-ms', values['timeout-ms']);
/** The job's state, which only the lock's holder may change. */
const statePath = `/examples/lock-job/${values.lock}`;

interface JobState {
  readonly runs: number;
  readonly lastJob: string;
  readonly lastToken: number;
  readonly step: number;
}

const log = (message: string): void => console.log(`[${name}] ${message}`);

/**
 * One step of the job: a write that commits only while we hold the lock (`ifHeld`) and nobody changed the
 * state since we read it (its version).
 */
async function step(client: Client, lock: Lock, change: (state: JobState) => JobState): Promise<JobState> {
  const node = await client.get(statePath, { signal: lock.signal });
  const next = change(json<JobState>(node.data));
  const result = await client
    .txn()
    .if(lock.ifHeld(), { path: statePath, target: 'version', op: '=', value: node.stat.version })
    .then({ op: 'set', path: statePath, data: jsonValue(next) })
    .commit({ signal: lock.signal });
  if (!result.succeeded) throw new SynodError('session_expired', 'the lock was lost during the job');
  return next;
}

/** The job: mark it started, do its steps, mark it done; each write fenced by the lock. */
async function job(client: Client, lock: Lock): Promise<void> {
  const started = await step(client, lock, (state) => {
    // A token lower than the last job's would mean a stale holder: fencing refuses it.
    if (state.lastToken >= lock.token) throw new SynodError('session_expired', `token ${lock.token} is older than ${state.lastToken}`);
    return { runs: state.runs + 1, lastJob: name, lastToken: lock.token, step: 0 };
  });
  log(`run ${started.runs} started`);
  for (let i = 1; i <= steps; i++) {
    await delay(stepMs, undefined, { signal: lock.signal });
    await step(client, lock, (state) => ({ ...state, step: i }));
  }
  log(`run ${started.runs} done after ${steps} steps`);
}

async function main(): Promise<number> {
  await using client = await connect({ endpoints: endpointsFrom(values.endpoints) });
  const initial: JobState = { runs: 0, lastJob: '', lastToken: 0, step: 0 };
  await client.create(statePath, jsonValue(initial), { parents: true }).catch((error: unknown) => {
    if (!(error instanceof SynodError && error.code === 'exists')) throw error;
  });
  log(`waiting for lock ${values.lock}`);
  // Released when the scope ends, whatever happens in it.
  await using lock = await client.lock(values.lock, { timeoutMs, owner: name });
  log(`got the lock (token ${lock.token})`);
  lock.onJeopardy(() => log('jeopardy: heartbeats unanswered, the lock may be lost'));
  try {
    await job(client, lock);
    return 0;
  } catch (error) {
    if (!lock.signal.aborted) throw error;
    log(`lost the lock (${error instanceof SynodError ? error.code : String(error)}): the job stopped`);
    return 1;
  } finally {
    log('releasing the lock');
  }
}

process.exitCode = await main().catch((error: unknown) => {
  log(`failed: ${error instanceof SynodError ? `${error.code}: ${error.message}` : String(error)}`);
  return 1;
});
