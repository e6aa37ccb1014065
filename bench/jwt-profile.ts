/**
 * Runs one case of the JWT benchmark alone for a while, for a CPU profile or a quick A/B:
 *
 *   node --cpu-prof --import tsx bench/jwt-profile.ts RS256 verify latchkey [seconds]
 *
 * Prints the ops/s of each second, so a change shows up without the full benchmark.
 */
import type { Bench } from './harness.js';
import {
  ALGS,
  type BenchAlg,
  createFixture,
  createSignContender,
  createVerifyContender,
  IMPLS,
  type Impl,
  OPS,
  type Op,
} from './jwt-contenders.js';
import { formatRate } from './jwt-report.js';

function pick<T extends string>(value: string | undefined, choices: readonly T[], what: string): T {
  if (!choices.includes(value as T)) throw new Error(`${what} must be one of ${choices.join(', ')}`);
  return value as T;
}

/** Keeps the last result observable, as the harness does, so no call is dead code. */
export let sink: unknown;

/** Runs the bench for one second in batches of 100 calls; returns the calls made. */
async function runOneSecond(bench: Bench): Promise<number> {
  const end = process.hrtime.bigint() + 1_000_000_000n;
  let calls = 0;
  while (process.hrtime.bigint() < end) {
    // Sync calls are not awaited: a microtask per call would dwarf the cheapest cases.
    if (bench.async) for (let i = 0; i < 100; i++) sink = await bench.fn();
    else for (let i = 0; i < 100; i++) sink = bench.fn();
    calls += 100;
  }
  return calls;
}

async function main(): Promise<void> {
  const [algArg, opArg, implArg, secondsArg = '10'] = process.argv.slice(2);
  const alg = pick<BenchAlg>(algArg, ALGS, 'alg');
  const op = pick<Op>(opArg, OPS, 'op');
  const impl = pick<Impl>(implArg, IMPLS, 'impl');
  const fixture = await createFixture(alg);
  const contender =
    op === 'sign' ? await createSignContender(impl, fixture) : await createVerifyContender(impl, fixture);
  if (contender === null) throw new Error(`${impl} cannot ${op} ${alg}`);
  for (let second = 1; second <= Number(secondsArg); second++) {
    console.log(`${alg} ${op} ${impl}: ${formatRate(await runOneSecond(contender.run))} ops/s`);
  }
}

await main();
