/**
 * What the server benchmarks measure, as runners: a variant and how to run it for a while. Clients
 * that each wait for their answer (refresh, login), or a raw-rate process asked over its stdin
 * (bench/server-raw.ts). Also the warm-up and the interleaved rounds over all runners, and the build
 * of the compiled server they start.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, SERVER_MAIN } from '../test/support/server-process.js';
import { type LoadRun, type Outcome, runClients, runLoadRounds, runReported } from './http-load.js';
import type { ServerProcess } from './processes.js';
import type { RawRequest } from './server-raw.js';
import type { Settings } from './settings.js';

export interface Runner<V> {
  variant: V;
  run(durationSeconds: number): Promise<LoadRun>;
}

/** Each of `clients` waits for its answer before its next request; an error is a failed request. */
export function clientsRunner<V>(
  variant: V,
  clients: number,
  serverPid: number,
  step: (client: number) => Promise<boolean>,
): Runner<V> {
  return {
    variant,
    run: (durationSeconds) =>
      runClients({
        clients,
        durationSeconds,
        serverPid,
        step: (client) => step(client).catch(() => false),
      }),
  };
}

/** Sends one request to the raw-rate process and reads its one-line answer. */
function askRaw(raw: ServerProcess, request: RawRequest): Promise<Outcome> {
  const answer = once(raw.lines, 'line').then(([line]) => JSON.parse(line as string) as Outcome);
  raw.child.stdin?.write(`${JSON.stringify(request)}\n`);
  return answer;
}

export function rawRunner<V>(
  variant: V,
  raw: ServerProcess,
  request: Omit<RawRequest, 'seconds'>,
): Runner<V> {
  return { variant, run: (seconds) => runReported(raw.pid, () => askRaw(raw, { ...request, seconds })) };
}

/**
 * Warms every runner up (a failed request there stops the benchmark), then runs the rounds; each
 * runner's runs by `key` of its variant, in round order.
 */
export async function measureRounds<V>(
  runners: readonly Runner<V>[],
  settings: Settings,
  key: (variant: V) => string,
  beforeRound?: () => Promise<void>,
): Promise<Map<string, LoadRun[]>> {
  process.stderr.write('warming up\n');
  for (const runner of settings.warmupSeconds > 0 ? runners : []) {
    const { failures } = await runner.run(settings.warmupSeconds);
    if (failures > 0) throw new Error(`${key(runner.variant)}: ${failures} failed requests in the warm-up`);
  }
  return runLoadRounds(runners, {
    rounds: settings.rounds,
    seed: 20261202,
    name: (runner) => key(runner.variant),
    run: (runner) => runner.run(settings.durationSeconds),
    ...(beforeRound === undefined ? {} : { beforeRound }),
  });
}

/** The newest mtime of the TypeScript under `directory`, built output and dependencies left out. */
function newestSourceMs(directory: string): number {
  let newest = 0;
  for (const path of readdirSync(directory, { recursive: true, encoding: 'utf8' })) {
    if (!/\.tsx?$/.test(path) || /(^|\/)(dist|node_modules)\//.test(path)) continue;
    newest = Math.max(newest, statSync(join(directory, path)).mtimeMs);
  }
  return newest;
}

/** The benchmarks measure the compiled server, so they build it when dist/ is missing or stale. */
export function ensureBuilt(): void {
  const main = join(ROOT, SERVER_MAIN);
  if (existsSync(main) && statSync(main).mtimeMs >= newestSourceMs(join(ROOT, 'src'))) return;
  process.stderr.write(`${SERVER_MAIN} is missing or older than src/: node scripts/prepare.js\n`);
  execFileSync(process.execPath, ['scripts/prepare.js'], { cwd: ROOT, stdio: ['ignore', 2, 2] });
}

/** What a benchmark started: stopped by `close`, or killed at once by `abandon` for an exit that cannot wait. */
export interface Rig {
  close(): Promise<void>;
  abandon(): void;
}

/** Runs `work` on `rig` and closes it after; a crash (a closed stdout, say) or Ctrl-C kills what it started. */
export async function withRig<R extends Rig>(rig: R, work: (rig: R) => Promise<void>): Promise<void> {
  const abandon = () => rig.abandon();
  process.once('exit', abandon);
  process.once('SIGINT', () => process.exit(130));
  try {
    await work(rig);
  } finally {
    await rig.close();
    process.off('exit', abandon);
  }
}

/** The --json file, when one was asked for. */
export function writeResults(file: string | undefined, results: unknown): void {
  if (file === undefined) return;
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nwrote ${file}`);
}
