// The synodctl command tree (commander): global options, then one register function per command group.

import { Command, Option } from 'commander';
import { version } from '../../server/version.ts';
import { registerClusterCommands } from './cluster.ts';
import { registerCompletionCommand } from './completion.ts';
import { defaultEndpoints, defaultTimeout } from './context.ts';
import { examples } from './help.ts';
import { registerKeyCommands } from './keys.ts';
import { registerLeaseCommands, registerSessionCommands } from './leases.ts';
import { registerElectCommands, registerLockCommands } from './locks.ts';
import { registerMaintenanceCommands } from './maintenance.ts';
import { outputModes } from './output.ts';
import { registerSnapshotCommands } from './snapshot.ts';
import { registerTxnCommand } from './txn.ts';
import { registerWatchCommand } from './watch.ts';

/** Builds the whole command tree (the tests walk it to check every command's help). */
export function buildProgram(): Command {
  const program = new Command('synodctl')
    .description('Talk to a Synod cluster: the tree, watches, locks, elections, leases, members and maintenance.')
    .version(`synodctl ${version}`, '-V, --version')
    .addOption(new Option('--endpoints <list>', `members' client addresses, comma-separated (env SYNOD_ENDPOINTS; default ${defaultEndpoints.join(',')})`))
    .option('--timeout <duration>', 'deadline of each request, e.g. 500ms, 5s', defaultTimeout)
    .addOption(new Option('-o, --output <format>', 'simple, table or json (json is stable, for scripts)').choices(outputModes).default('simple'))
    .option('--serializable', 'reads answer from the connected member at once, possibly stale')
    .showSuggestionAfterError(true)
    .exitOverride();
  examples(
    program,
    'synodctl put /app/config "mode=blue"',
    'synodctl get /app/config -o json',
    'synodctl watch /app --recursive',
    'synodctl lock jobs/nightly -- ./run-job.sh',
    'SYNOD_ENDPOINTS=10.0.0.1:4401,10.0.0.2:4401 synodctl endpoint status -o table',
  );
  registerKeyCommands(program);
  registerTxnCommand(program);
  registerWatchCommand(program);
  registerLockCommands(program);
  registerElectCommands(program);
  registerLeaseCommands(program);
  registerSessionCommands(program);
  registerClusterCommands(program);
  registerSnapshotCommands(program);
  registerMaintenanceCommands(program);
  registerCompletionCommand(program);
  return program;
}
