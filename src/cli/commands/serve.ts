/**
 * `latchkey serve`: the server, exactly as `npm start` runs it, until SIGINT or SIGTERM. With
 * `--workers N` (N > 1), N processes share the port (src/server/cluster.ts); one is the default.
 */
import type { Command } from 'commander';
import { ConfigurationRefused, MAX_WORKERS, startCluster } from '../../server/cluster.js';
import { CONFIGURATION_REFUSED } from '../../server/config.js';
import { startServer } from '../../server/main.js';
import { guardStandardStreams } from '../../server/standard-streams.js';
import { type CLIContext, CLIError, usageError } from '../context.js';

export function registerServeCommand(program: Command, context: CLIContext): void {
  program
    .command('serve')
    .description('start the server (API and web UI) with the configuration from the environment')
    .option(
      '--workers <n>',
      `processes that share the port, 1 to ${MAX_WORKERS}; each hashes up to LATCHKEY_HASH_CONCURRENCY passwords at once`,
      '1',
    )
    .action(async (options: { workers: string }) => {
      // A server (a cluster's primary too) keeps serving when its stdout's reader goes away.
      guardStandardStreams();
      const workers = parseWorkers(options.workers);
      const config = context.config();
      // The lines `npm start` prints too: a supervisor's log shows the stop was asked for and done.
      const stopping = (why: string) =>
        context.print(`Latchkey is stopping (${why}): finishing the requests in flight`);
      if (workers === 1) {
        const stop = await startServer(config);
        stopping(await untilStopped(context.options.stopServe));
        await stop();
        context.print('Latchkey stopped');
        return;
      }
      const cluster = await startCluster(config, {
        workers,
        env: context.io.env,
        stdout: context.io.stdout,
        stderr: context.io.stderr,
      });
      try {
        stopping(await Promise.race([untilStopped(context.options.stopServe), cluster.failed]));
      } catch (error) {
        // Exit code 2, as a single server refusing the same setting: scripts tell it from a crash.
        if (error instanceof ConfigurationRefused) throw new CLIError(error.message, CONFIGURATION_REFUSED);
        throw error;
      } finally {
        await cluster.stop();
      }
      context.print('Latchkey stopped');
    });
}

export function parseWorkers(raw: string): number {
  const workers = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
  if (!Number.isInteger(workers) || workers < 1 || workers > MAX_WORKERS) {
    throw usageError(`--workers must be a whole number from 1 to ${MAX_WORKERS}, not "${raw}"`);
  }
  return workers;
}

/** Resolves with what asked the server to stop. */
function untilStopped(signal: AbortSignal | undefined): Promise<string> {
  return new Promise((resolve) => {
    const onInterrupt = () => done('SIGINT');
    const onTerminate = () => done('SIGTERM');
    const onAbort = () => done('asked to stop');
    const done = (why: string) => {
      process.removeListener('SIGINT', onInterrupt);
      process.removeListener('SIGTERM', onTerminate);
      signal?.removeEventListener('abort', onAbort);
      resolve(why);
    };
    process.once('SIGINT', onInterrupt);
    process.once('SIGTERM', onTerminate);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort);
  });
}
