#!/usr/bin/env node
/** Entry of the `resnet-serve` executable. */
import { RESTRICT_LOADERS_ENV } from '../image/formats.js';
import { main } from './main.js';
import { argumentsAsKeys } from './raw-argv.js';

// Our own process decodes untrusted files: libvips may run only our loaders, here, in every worker thread and in every child (guarded-sharp.ts).
process.env[RESTRICT_LOADERS_ENV] ??= '1';

// Output piped into `head` and closed early is not an error; a full disk or another write failure is one line, not a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  process.stderr.write(`resnet-serve: cannot write the output (${err.code ?? err.message})\n`);
  process.exit(1);
});
// Messages and progress whose reader went away (`tag … 2>&1 | head -1`): the work goes on, unreported, and its exit code stands.
process.stderr.on('error', () => {});
// File names that are not UTF-8 reach the commands as their exact bytes (raw-argv.ts).
process.exitCode = await main(argumentsAsKeys(process.argv.slice(2)));
