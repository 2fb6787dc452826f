#!/usr/bin/env node
// `synodctl`: what an operator or a script needs from a Synod cluster (docs/cli.md). The exit status is 0 on
// success, else one status per error code (cli/ctl/errors.ts).

import { CommanderError } from 'commander';
import { CliError, exitStatuses } from './ctl/errors.ts';
import { Output } from './ctl/output.ts';
import { buildProgram } from './ctl/program.ts';

const program = buildProgram();
try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Help and --version end with code 0; commander has already printed its own message for the rest.
    process.exitCode = error.exitCode === 0 ? 0 : exitStatuses.usage;
  } else if (error instanceof CliError) {
    new Output('simple').error(error);
    process.exitCode = exitStatuses[error.code];
  } else {
    throw error;
  }
}
// Everything is written synchronously to files and pipes on Linux; nothing else is left to wait for.
process.exit(process.exitCode ?? 0);
