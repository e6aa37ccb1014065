/**
 * The primary of `latchkey serve --workers N`: node:cluster forks N workers (cluster-worker.ts), each a
 * whole server, and they share one port (the primary accepts connections and hands them out in turn).
 * The primary serves nothing itself. Before forking it opens the store once, which migrates it and
 * creates the signing keys and secrets, so that workers never race each other to do that. A worker
 * that exits is replaced after a pause that doubles with each exit of the last minute; when workers
 * keep exiting (a database gone), the primary stops them all and says why, rather than restarting
 * them forever. One that refused its configuration (a port taken) stops them all at once.
 */
import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { serveWorkerMetrics } from './cluster-metrics.js';
import { CONFIGURATION_REFUSED, type ServerConfig } from './config.js';
import { listeningLine } from './main.js';
import { createRuntime } from './runtime.js';

export const MAX_WORKERS = 64;

const WORKER_ENTRY = fileURLToPath(new URL('./cluster-worker.js', import.meta.url));
/** Exits counted for the pause before a restart and for the crash-loop limit. */
const EXIT_WINDOW_MS = 60_000;
const FIRST_RESTART_DELAY_MS = 100;
const MAX_RESTART_DELAY_MS = 5_000;
/** Past this many exits in the window beyond the number of workers, the primary gives up. */
const EXITS_ALLOWED_BEYOND_WORKERS = 3;
/** How long a stopping worker may take to finish its requests before it is killed. */
const STOP_TIMEOUT_MS = 10_000;

export interface ClusterOptions {
  workers: number;
  /** The workers' environment: the one the configuration was read from. */
  env: Readonly<Record<string, string | undefined>>;
  /** One line to stdout (the "listening" line). */
  stdout: (text: string) => void;
  /** One line to stderr (workers that exited, restarts). */
  stderr: (text: string) => void;
}

export interface RunningCluster {
  /**
   * Rejects when workers kept exiting and the primary stopped them all (with ConfigurationRefused when
   * one refused its configuration); never resolves.
   */
  failed: Promise<never>;
  /** Stops every worker (SIGTERM: each finishes its requests and closes its store) and waits for them. */
  stop(): Promise<void>;
}

/** How `failed` rejects when a worker refused its configuration: the command exits 2, as a server does. */
export class ConfigurationRefused extends Error {
  override readonly name = 'ConfigurationRefused';
}

function describeExit(code: number | null, signal: string | null): string {
  return signal === null ? `with code ${code}` : `by ${signal}`;
}

export async function startCluster(config: ServerConfig, options: ClusterOptions): Promise<RunningCluster> {
  if (!Number.isInteger(options.workers) || options.workers < 2 || options.workers > MAX_WORKERS) {
    throw new TypeError(`a cluster has 2 to ${MAX_WORKERS} workers`);
  }
  // Migrations, first signing key, shared secrets: done once, here, before any worker starts.
  const runtime = await createRuntime(config, { background: false });
  await runtime.close();

  serveWorkerMetrics();
  cluster.setupPrimary({ exec: WORKER_ENTRY, args: [] });
  const env = { ...options.env };
  const workers = new Set<Worker>();
  const listening = new Set<Worker>();
  const restarts = new Set<NodeJS.Timeout>();
  let exits: number[] = [];
  let stopping = false;
  let announced = false;
  let fail: (error: Error) => void = () => {};
  const failed = new Promise<never>((_resolve, reject) => {
    fail = reject;
  });
  failed.catch(() => {});

  const stopAll = async () => {
    stopping = true;
    for (const timer of restarts) clearTimeout(timer);
    restarts.clear();
    const exited = [...workers].map((worker) => once(worker, 'exit'));
    for (const worker of workers) worker.process.kill('SIGTERM');
    const killer = setTimeout(() => {
      for (const worker of workers) worker.process.kill('SIGKILL');
    }, STOP_TIMEOUT_MS);
    await Promise.all(exited);
    clearTimeout(killer);
  };

  const fork = () => {
    const worker = cluster.fork(env);
    workers.add(worker);
    worker.on('listening', (address) => {
      listening.add(worker);
      if (!announced && listening.size === options.workers) {
        announced = true;
        const detail = `, ${options.workers} workers`;
        options.stdout(`${listeningLine(config, address.port, detail)}\n`);
      }
    });
    worker.once('exit', (code: number | null, signal: string | null) => {
      workers.delete(worker);
      listening.delete(worker);
      if (stopping) return;
      const now = Date.now();
      exits = [...exits.filter((at) => now - at < EXIT_WINDOW_MS), now];
      const how = describeExit(code, signal);
      // Exit code 2 is a setting the worker refused (a taken port, say), which it has named: another
      // worker would meet the same one.
      if (code === CONFIGURATION_REFUSED) {
        void stopAll().then(() =>
          fail(
            new ConfigurationRefused(
              `worker ${worker.process.pid} exited ${how}, refusing its configuration; stopped them all`,
            ),
          ),
        );
        return;
      }
      if (exits.length > options.workers + EXITS_ALLOWED_BEYOND_WORKERS) {
        options.stderr(`latchkey: worker ${worker.process.pid} exited ${how}\n`);
        void stopAll().then(() =>
          fail(
            new Error(
              `workers keep exiting (${exits.length} exits within ${EXIT_WINDOW_MS / 1000} s, the last ${how}); ` +
                'stopped them all',
            ),
          ),
        );
        return;
      }
      const delayMs = Math.min(FIRST_RESTART_DELAY_MS * 2 ** (exits.length - 1), MAX_RESTART_DELAY_MS);
      options.stderr(
        `latchkey: worker ${worker.process.pid} exited ${how}; starting another in ${delayMs} ms\n`,
      );
      const timer = setTimeout(() => {
        restarts.delete(timer);
        fork();
      }, delayMs);
      restarts.add(timer);
    });
  };

  for (let i = 0; i < options.workers; i++) fork();
  return {
    failed,
    async stop() {
      if (!stopping) await stopAll();
    },
  };
}
