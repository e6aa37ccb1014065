/** `latchkey serve`: the server, exactly as `npm start` runs it, until SIGINT or SIGTERM. */
import type { Command } from 'commander';
import { startServer } from '../../server/main.js';
import type { CLIContext } from '../context.js';

export function registerServeCommand(program: Command, context: CLIContext): void {
  program
    .command('serve')
    .description('start the server (API and web UI) with the configuration from the environment')
    .action(async () => {
      const stop = await startServer(context.config());
      await untilStopped(context.options.stopServe);
      await stop();
    });
}

function untilStopped(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.removeListener('SIGINT', done);
      process.removeListener('SIGTERM', done);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    if (signal?.aborted) done();
    else signal?.addEventListener('abort', done);
  });
}
