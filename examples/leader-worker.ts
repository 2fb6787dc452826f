// A leader-elected worker. Run three copies: each campaigns in one election, the leader does the periodic work
// (each round a write guarded by its leadership, logged with its fencing token), a copy that loses leadership
// stops working at once and campaigns again, and when the leader's process dies another copy takes over once
// the dead one's session has expired.
//
//   npm start                                               # a local ensemble on 127.0.0.1:4401-4403
//   node --import tsx examples/leader-worker.ts --name a    # and b, c in two more terminals
//
// Options: --endpoints HOST:PORT,... (default $SYNOD_ENDPOINTS, else the dev ensemble), --name (default
// worker-PID), --election (default leader-worker), --interval-ms (default 1000), --session-ttl-ms (default
// 5000: how long a dead leader keeps leadership). Ctrl-C resigns (another copy leads at once) and exits.

import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { connect, jsonValue, SynodError, type Client, type Leadership } from '../sdk/index.ts';
import { endpointsFrom, positiveInteger } from './args.ts';

const { values } = parseArgs({
  options: {
    endpoints: { type: 'string' },
    name: { type: 'string', default: `worker-${process.pid}` },
    election: { type: 'string', default: 'leader-worker' },
    'interval-ms': { type: 'string', default: '1000' },
    'session-ttl-ms': { type: 'string', default: '5000' },
  },
});
const name = values.name;
const intervalMs = positiveInteger('interval-ms', values['interval-ms']);
const sessionTtlMs = positiveInteger('session-ttl-ms', values['session-ttl-ms']);
/** Where the leader records its work; only the current leader can write it. */
const progressPath = `/examples/leader-worker/${values.election}`;

const log = (message: string): void => console.log(`[${name}] ${message}`);

/** Aborted by Ctrl-C or SIGTERM: resign and leave. */
const shutdown = new AbortController();
process.once('SIGINT', () => shutdown.abort());
process.once('SIGTERM', () => shutdown.abort());

/** Does one round of work every interval while `leadership` holds; returns when it is lost or on shutdown. */
async function work(client: Client, leadership: Leadership): Promise<void> {
  const signal = AbortSignal.any([leadership.signal, shutdown.signal]);
  for (let round = 1; !signal.aborted; round++) {
    if (leadership.session.status === 'jeopardy') {
      // Heartbeats go unanswered: leadership may be lost any moment, so do nothing that needs it.
      log(`round ${round} skipped: the session is in jeopardy`);
    } else {
      // The guard makes the write fail if someone else leads by the time it commits (fencing).
      const result = await client
        .txn()
        .if(leadership.ifHeld())
        .then({ op: 'set', path: progressPath, data: jsonValue({ worker: name, token: leadership.token, round }) })
        .commit({ signal })
        .catch((error: unknown) => (signal.aborted ? null : Promise.reject(error)));
      if (result === null) return;
      if (!result.succeeded) {
        log('the leadership guard failed: someone else leads');
        return;
      }
      log(`work round ${round} done as leader (token ${leadership.token})`);
    }
    await delay(intervalMs, undefined, { signal }).catch(() => {});
  }
}

/** Campaigns, works while leading, and campaigns again after a loss, until shutdown. */
async function run(client: Client): Promise<void> {
  await client.create(progressPath, '', { parents: true }).catch((error: unknown) => {
    if (!(error instanceof SynodError && error.code === 'exists')) throw error;
  });
  const election = client.election(values.election);
  while (!shutdown.signal.aborted) {
    // A fresh session per campaign: after a loss, the old one may have expired.
    const session = await client.session({ ttlMs: sessionTtlMs });
    try {
      log('campaigning');
      const leadership = await election.campaign(name, { session, signal: shutdown.signal });
      log(`leading (token ${leadership.token})`);
      leadership.onJeopardy(() => log('jeopardy: heartbeats unanswered, pausing work'));
      await work(client, leadership);
      if (shutdown.signal.aborted) {
        await leadership.resign();
        log('resigned');
      } else {
        log(`lost leadership (${String((leadership.signal.reason as SynodError | undefined)?.code ?? 'guard failed')}): stopped working`);
      }
    } catch (error) {
      if (shutdown.signal.aborted) break;
      log(`campaign failed (${error instanceof SynodError ? error.code : String(error)}); trying again`);
      await delay(intervalMs);
    } finally {
      await session.close();
    }
  }
}

const client = await connect({ endpoints: endpointsFrom(values.endpoints) });
try {
  await run(client);
} finally {
  await client.close();
  log('stopped');
}
