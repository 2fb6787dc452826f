// A client process for the session-expiry workload: connects to one system, creates an ephemeral node owned
// by a session (or lease) of the given TTL, prints `ready <granted TTL ms>`, and keeps the session alive until
// it is killed. It exits by itself after two minutes, so it can never outlive the benchmark for long.
//
//   node --import tsx test/bench/session-holder.ts '<ClientSpec JSON>' /bench/w7/holder-0 2000

import type { ClientSpec } from './driver.ts';
import { openClient } from './drivers/index.ts';

const lifetimeMaxMs = 120_000;

async function main(): Promise<void> {
  const [specJson, key, ttlText] = process.argv.slice(2);
  if (specJson === undefined || key === undefined || ttlText === undefined) throw new Error('usage: session-holder.ts SPEC_JSON KEY TTL_MS');
  // A referenced timer: it also keeps the process alive while a client library waits on unreferenced timers
  // (the Synod SDK's reconnect backoff, for one), which would otherwise let it exit early with status 0.
  setTimeout(() => process.exit(3), lifetimeMaxMs);
  const spec = JSON.parse(specJson) as ClientSpec;
  const client = await openClient(spec, { kind: 'ensemble' });
  const { grantedTtlMs } = await client.createEphemeral(key, new TextEncoder().encode('held'), Number(ttlText));
  console.log(`ready ${grantedTtlMs}`);
  // The lifetime timer keeps the event loop (and the library's keep-alives) running until SIGKILL.
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
