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
      if (workers === 1) {
        const stop = await startServer(config);
        await untilStopped(context.options.stopServe);
        await stop();
        return;
      }
      const cluster = await startCluster(config, {
        workers,
        env: context.io.env,
        stdout: context.io.stdout,
        stderr: context.io.stderr,
      });
      try {
        await Promise.race([untilStopped(context.options.stopServe), cluster.failed]);
      } catch (error) {
        // Exit code 2, as a single server refusing the same setting: scripts tell it from a crash.
        if (error instanceof ConfigurationRefused) throw new CLIError(error.message, CONFIGURATION_REFUSED);
        throw error;
      } finally {
        await cluster.stop();
      }
    });
}

export function parseWorkers(raw: string): number {
  const workers = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
  if (!Number.isInteger(workers) || workers < 1 || workers > MAX_WORKERS) {
    throw usageError(`--workers must be a whole number from 1 to ${MAX_WORKERS}, not "${raw}"`);
  }
  return workers;
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
