/**
 * One load run of an HTTP benchmark, in this process, against one server, with the server's CPU time
 * and the machine's read around it: autocannon for requests that repeat (`runLoad`), or clients
 * that each wait for their answer before the next request (`runClients`), for requests that depend
 * on the previous answer. Latency is taken from every response in microsecond detail: autocannon's
 * own histogram keeps whole milliseconds, which at these speeds puts most p99s at 0, 1 or 2.
 */
import type { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { createRandom, median, shuffle } from './harness.js';
import { Latencies } from './latencies.js';

/** The part of autocannon's API used here (it ships no types). */
interface AutocannonOptions {
  url: string;
  connections: number;
  duration: number;
  headers: Record<string, string>;
}
interface AutocannonResult {
  errors: number;
  timeouts: number;
}
type Autocannon = (
  options: AutocannonOptions,
  done: (error: Error | null, result: AutocannonResult) => void,
) => EventEmitter;

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

export interface LoadOptions {
  url: string;
  /** Sent as `Authorization: Bearer …` on every request; null for none. */
  token: string | null;
  connections: number;
  durationSeconds: number;
  /** The server process, whose CPU time is read before and after. */
  serverPid: number;
}

export interface LoadRun {
  /** 200 responses per second of the run. */
  reqPerSec: number;
  p99Ms: number;
  /** Responses other than 200, plus socket errors and timeouts: any of them spoils the run. */
  failures: number;
  serverCpuUsPerReq: number;
  /** Server CPU time over wall time, in cores. */
  serverBusy: number;
  /** CPU time of every other process on the machine over wall time, in cores. */
  othersBusy: number;
}

const TICKS_PER_SECOND = 100;

/** User + system CPU time of a process, in ms (Linux /proc; `null` elsewhere). */
function processCpuMs(pid: number): number | null {
  try {
    // The command name, in parentheses, may hold spaces: count fields after its closing one.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** Busy ms of all CPUs of the machine since boot. */
function machineBusyMs(): number {
  return os.cpus().reduce((sum, { times }) => sum + times.user + times.nice + times.sys + times.irq, 0);
}

/** What a run did, as counted by whoever ran it. */
export interface Outcome {
  operations: number;
  p99Ms: number;
  failures: number;
  /** Default: operations over the wall time of the run as this process saw it. */
  perSec?: number;
}

/**
 * Reads the server's, this process's and the machine's CPU time now; the function it returns reads
 * them again when the run is over and makes the run's figures.
 */
function startRun(serverPid: number): (outcome: Outcome) => LoadRun {
  const serverBefore = processCpuMs(serverPid);
  const ownBefore = process.cpuUsage();
  const machineBefore = machineBusyMs();
  const started = performance.now();
  return ({ operations, p99Ms, failures, perSec }) => {
    const wallMs = performance.now() - started;
    const serverAfter = processCpuMs(serverPid);
    const own = process.cpuUsage(ownBefore);
    const serverMs = serverBefore === null || serverAfter === null ? Number.NaN : serverAfter - serverBefore;
    const othersMs = machineBusyMs() - machineBefore - serverMs - (own.user + own.system) / 1000;
    return {
      reqPerSec: perSec ?? operations / (wallMs / 1000),
      p99Ms,
      failures,
      serverCpuUsPerReq: (serverMs * 1000) / operations,
      serverBusy: serverMs / wallMs,
      othersBusy: Math.max(0, othersMs / wallMs),
    };
  };
}

const outcomeOf = (latencies: Latencies, failures: number): Outcome => ({
  operations: latencies.count,
  p99Ms: latencies.percentile(99),
  failures,
});

export async function runLoad(options: LoadOptions): Promise<LoadRun> {
  const latencies = new Latencies();
  let other = 0;
  const finish = startRun(options.serverPid);
  const result = await new Promise<AutocannonResult>((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        connections: options.connections,
        duration: options.durationSeconds,
        headers: options.token === null ? {} : { authorization: `Bearer ${options.token}` },
      },
      (error, done) => (error === null ? resolve(done) : reject(error)),
    );
    instance.on('response', (_client: unknown, status: number, _bytes: number, responseMs: number) => {
      if (status === 200) latencies.add(responseMs);
      else other++;
    });
  });
  return finish(outcomeOf(latencies, other + result.errors + result.timeouts));
}

export interface ClientsOptions {
  clients: number;
  durationSeconds: number;
  serverPid: number;
  /** One request of client number `client` (0 to clients − 1); true when it succeeded. */
  step: (client: number) => Promise<boolean>;
}

/**
 * `clients` loops, each making its next request when its last one is answered, until the time is up;
 * a request under way then still finishes (and counts), so that no client is left half-way.
 */
export async function runClients(options: ClientsOptions): Promise<LoadRun> {
  const latencies = new Latencies();
  let failures = 0;
  const finish = startRun(options.serverPid);
  const end = performance.now() + options.durationSeconds * 1000;
  const loop = async (client: number) => {
    while (performance.now() < end) {
      const started = performance.now();
      if (await options.step(client)) latencies.add(performance.now() - started);
      else failures++;
    }
  };
  await Promise.all(Array.from({ length: options.clients }, (_, client) => loop(client)));
  return finish(outcomeOf(latencies, failures));
}

/** A run that the server process makes and counts itself (a loop of its own), with the CPU read around it. */
export async function runReported(serverPid: number, run: () => Promise<Outcome>): Promise<LoadRun> {
  const finish = startRun(serverPid);
  return finish(await run());
}

export interface LoadRoundsOptions<T> {
  rounds: number;
  /** Seed of the shuffle, so that two runs measure in the same order. */
  seed: number;
  name: (item: T) => string;
  run: (item: T) => Promise<LoadRun>;
  /** Called before each round. */
  beforeRound?: () => Promise<void>;
}

/**
 * Interleaved rounds: each gives every item one run, in a freshly shuffled order, so that drift and
 * noisy neighbours spread over all items. Returns each item's runs by name, in round order; a run
 * with failed requests stops the benchmark.
 */
export async function runLoadRounds<T>(
  items: readonly T[],
  options: LoadRoundsOptions<T>,
): Promise<Map<string, LoadRun[]>> {
  const samples = new Map<string, LoadRun[]>(items.map((item) => [options.name(item), []]));
  const random = createRandom(options.seed);
  const started = performance.now();
  for (let round = 1; round <= options.rounds; round++) {
    await options.beforeRound?.();
    for (const item of shuffle(items, random)) {
      const run = await options.run(item);
      if (run.failures > 0) throw new Error(`${options.name(item)}: ${run.failures} failed requests`);
      samples.get(options.name(item))?.push(run);
    }
    const elapsed = ((performance.now() - started) / 1000).toFixed(0);
    process.stderr.write(`round ${round}/${options.rounds} done, ${elapsed} s\n`);
  }
  return samples;
}

/** One figure's median over the runs of a variant. */
export const medianOf = (runs: readonly LoadRun[], pick: (run: LoadRun) => number): number =>
  median(runs.map(pick));

export function formatNoise(runs: readonly LoadRun[]): string {
  const others = runs.map((run) => run.othersBusy);
  return (
    `other processes on the machine during runs: median ${median(others).toFixed(2)} cores, ` +
    `worst ${Math.max(...others).toFixed(2)} cores`
  );
}
