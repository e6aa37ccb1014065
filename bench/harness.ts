/**
 * A small in-process benchmark harness. Every case is warmed up once, then measured in interleaved
 * rounds: each round gives every case one fixed time slice, in a freshly shuffled order, so that
 * drift (thermal throttling, GC debt left by the previous case, a noisy neighbour) spreads over all
 * cases instead of landing on whichever ran last. The caller reports the median of the rounds.
 */

/** One benchmarked call. Async calls are awaited one at a time, as a request handler would. */
export type Bench = { async: false; fn: () => unknown } | { async: true; fn: () => Promise<unknown> };

export interface BenchCase {
  id: string;
  bench: Bench;
}

export interface RoundOptions {
  rounds: number;
  sliceMs: number;
  warmupMs: number;
  /** Seed of the shuffle, so that two runs measure in the same order. */
  seed: number;
  /** Called after each round, for progress output. */
  onRound?: (round: number, elapsedMs: number) => void;
}

export function syncBench(fn: () => unknown): Bench {
  return { async: false, fn };
}

export function asyncBench(fn: () => Promise<unknown>): Bench {
  return { async: true, fn };
}

/**
 * A batch should last about this long: long enough that reading the clock once per batch costs
 * nothing measurable, short enough that a slice overshoots its end by very little.
 */
const TARGET_BATCH_NS = 1_000_000n;

/** The last result of every batch lands here, so that no call can be optimised away as dead code. */
let sink: unknown;

/** Read by the caller at the end, which keeps the stores observable. */
export function lastResult(): unknown {
  return sink;
}

function runSyncBatch(fn: () => unknown, calls: number): void {
  let last: unknown;
  for (let i = 0; i < calls; i++) last = fn();
  sink = last;
}

async function runAsyncBatch(fn: () => Promise<unknown>, calls: number): Promise<void> {
  let last: unknown;
  for (let i = 0; i < calls; i++) last = await fn();
  sink = last;
}

/** Runs one batch; the sync path never touches a promise, so it pays nothing for the async option. */
function runBatch(bench: Bench, calls: number): Promise<void> | undefined {
  if (bench.async) return runAsyncBatch(bench.fn, calls);
  runSyncBatch(bench.fn, calls);
  return undefined;
}

/** Calls per batch that make one batch last about TARGET_BATCH_NS, found while warming up. */
async function warmUp(bench: Bench, warmupNs: bigint): Promise<number> {
  let calls = 1;
  const start = process.hrtime.bigint();
  let now = start;
  while (now - start < warmupNs) {
    const before = now;
    await runBatch(bench, calls);
    now = process.hrtime.bigint();
    if (now - before < TARGET_BATCH_NS) calls *= 2;
  }
  return calls;
}

/** Operations per second over one slice; the clock is read once per batch, never per call. */
async function measureSlice(bench: Bench, calls: number, sliceNs: bigint): Promise<number> {
  let ops = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0n;
  while (elapsed < sliceNs) {
    await runBatch(bench, calls);
    ops += calls;
    elapsed = process.hrtime.bigint() - start;
  }
  return (ops * 1e9) / Number(elapsed);
}

/** A deterministic PRNG (mulberry32); Math.random would make the order differ between runs. */
export function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const result = [...items];
  for (let i = result.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [result[i], result[j]] = [result[j] as T, result[i] as T];
  }
  return result;
}

const msToNs = (ms: number): bigint => BigInt(Math.round(ms * 1e6));

/** Warms every case up, then runs the rounds; returns every case's ops/s, one entry per round. */
export async function runRounds(
  cases: readonly BenchCase[],
  options: RoundOptions,
): Promise<Map<string, number[]>> {
  const batchCalls = new Map<string, number>();
  for (const { id, bench } of cases) batchCalls.set(id, await warmUp(bench, msToNs(options.warmupMs)));
  const samples = new Map<string, number[]>(cases.map(({ id }) => [id, []]));
  const random = createRandom(options.seed);
  const sliceNs = msToNs(options.sliceMs);
  const start = process.hrtime.bigint();
  for (let round = 1; round <= options.rounds; round++) {
    for (const { id, bench } of shuffle(cases, random)) {
      const opsPerSec = await measureSlice(bench, batchCalls.get(id) ?? 1, sliceNs);
      samples.get(id)?.push(opsPerSec);
    }
    options.onRound?.(round, Number(process.hrtime.bigint() - start) / 1e6);
  }
  return samples;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}
