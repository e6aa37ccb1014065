/**
 * JWT benchmark: latchkey against jose, fast-jwt and jsonwebtoken, and against the bare node:crypto
 * call underneath all of them ("floor"), signing and verifying HS256, RS256, PS256, ES256 and EdDSA.
 *
 *   npm run bench:jwt                    full run, a few minutes
 *   npm run bench:jwt -- --quick         short run, under a minute
 *   npm run bench:jwt -- --json FILE     also write the medians as JSON
 *
 * Everything runs in one process, in interleaved rounds (see harness.ts); tables show medians.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { type Bench, lastResult, median, runRounds } from './harness.js';
import {
  ALGS,
  type BenchAlg,
  createBadTokens,
  createFixture,
  createSignContender,
  createVerifyContender,
  describeSignedToken,
  type Fixture,
  IMPLS_BY_OP,
  type Impl,
  type Op,
  type SignContender,
  SUBJECT,
  type VerifyContender,
} from './jwt-contenders.js';
import { checkTargets, formatCalibration, formatOpTable, formatTargets, type Result } from './jwt-report.js';

interface Settings {
  rounds: number;
  sliceMs: number;
  warmupMs: number;
}

/** 58 cases × 20 rounds × 150 ms ≈ 3 min, plus about 25 s of warm-up. */
const FULL: Settings = { rounds: 20, sliceMs: 150, warmupMs: 400 };
/** About 26 s of rounds and 6 s of warm-up; more short rounds beat fewer long ones for a median. */
const QUICK: Settings = { rounds: 9, sliceMs: 50, warmupMs: 100 };

interface Entry {
  alg: BenchAlg;
  op: Op;
  impl: Impl;
  run: Bench;
}

const entryId = ({ alg, op, impl }: Omit<Entry, 'run'>): string => `${alg} ${op} ${impl}`;

function packageVersion(name: string): string {
  const url = new URL(`../node_modules/${name}/package.json`, import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
}

function describeMachine(): string {
  const cpus = os.cpus();
  const libraries = ['jose', 'fast-jwt', 'jsonwebtoken'].map((name) => `${name} ${packageVersion(name)}`);
  return [
    `machine: ${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${os.platform()} ${os.arch()}, ` +
      `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    `node ${process.version}, OpenSSL ${process.versions.openssl}, V8 ${process.versions.v8}`,
    `libraries: ${libraries.join(', ')}`,
  ].join('\n');
}

async function rejects(attempt: Promise<unknown>): Promise<boolean> {
  try {
    await attempt;
    return false;
  } catch {
    return true;
  }
}

/**
 * Outside timing: the verifier accepts the token it is timed on (twice, so a cache serves the second
 * answer) and refuses a forged, an expired and a wrongly addressed token. The floor checks only the
 * signature, so it is held to the forged token alone.
 */
async function checkVerifier(fixture: Fixture, impl: Impl, contender: VerifyContender): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const sub = await contender.check(fixture.token);
    if (sub !== SUBJECT) throw new Error(`${impl} ${fixture.alg}: verify returned sub ${String(sub)}`);
  }
  for (const [name, token] of Object.entries(createBadTokens(fixture))) {
    if (impl === 'floor' && name !== 'forged') continue;
    if (!(await rejects(contender.check(token)))) {
      throw new Error(`${impl} ${fixture.alg}: accepted the ${name} token`);
    }
  }
}

/** Outside timing: the signer's token carries the same header fields and claims as latchkey's. */
async function checkSigner(fixture: Fixture, impl: Impl, contender: SignContender): Promise<void> {
  const problem = describeSignedToken(fixture)(await contender.produce());
  if (problem !== null) throw new Error(`${impl} ${fixture.alg}: signed token differs: ${problem}`);
}

async function createEntries(fixture: Fixture): Promise<Entry[]> {
  const entries: Entry[] = [];
  const { alg } = fixture;
  for (const impl of IMPLS_BY_OP.sign) {
    const contender = await createSignContender(impl, fixture);
    if (contender === null) continue;
    await checkSigner(fixture, impl, contender);
    entries.push({ alg, op: 'sign', impl, run: contender.run });
  }
  for (const impl of IMPLS_BY_OP.verify) {
    const contender = await createVerifyContender(impl, fixture);
    if (contender === null) continue;
    await checkVerifier(fixture, impl, contender);
    entries.push({ alg, op: 'verify', impl, run: contender.run });
  }
  return entries;
}

/** Interquartile range over median: how much a case moved from round to round. */
function relativeSpread(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return (at(0.75) - at(0.25)) / median(sorted);
}

function formatSpread(entries: readonly Entry[], samples: ReadonlyMap<string, number[]>): string {
  const spreads = entries.map((entry) => ({
    id: entryId(entry),
    spread: relativeSpread(samples.get(entryId(entry)) ?? []),
  }));
  const worst = spreads.reduce((a, b) => (b.spread > a.spread ? b : a));
  const percent = (value: number) => `${(value * 100).toFixed(1)}%`;
  return (
    `round-to-round spread (IQR ÷ median): typical ${percent(median(spreads.map((s) => s.spread)))}, ` +
    `worst ${percent(worst.spread)} (${worst.id})`
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean', default: false }, json: { type: 'string' } },
  });
  const settings = values.quick ? QUICK : FULL;
  console.log(describeMachine());
  console.log(
    `${values.quick ? 'quick' : 'full'} run: ${settings.rounds} rounds of ${settings.sliceMs} ms per case, ` +
      `${settings.warmupMs} ms warm-up; medians over rounds\n`,
  );

  const entries: Entry[] = [];
  for (const alg of ALGS) entries.push(...(await createEntries(await createFixture(alg))));
  process.stderr.write(`${entries.length} cases pass the sanity checks; warming up\n`);

  const samples = await runRounds(
    entries.map((entry) => ({ id: entryId(entry), bench: entry.run })),
    {
      ...settings,
      seed: 20240611,
      onRound: (round, elapsedMs) =>
        process.stderr.write(`round ${round}/${settings.rounds} done, ${(elapsedMs / 1000).toFixed(0)} s\n`),
    },
  );
  if (lastResult() === undefined) throw new Error('no benchmark produced a result');

  const results: Result[] = entries.map(({ alg, op, impl }) => ({
    alg,
    op,
    impl,
    opsPerSec: Math.round(median(samples.get(entryId({ alg, op, impl })) ?? [])),
  }));
  console.log(`${formatOpTable(results, 'sign')}\n`);
  console.log(`${formatOpTable(results, 'verify')}\n`);
  console.log(`${formatSpread(entries, samples)}\n`);
  const rounds = (alg: BenchAlg, op: Op, impl: Impl) => samples.get(entryId({ alg, op, impl }));
  console.log(formatTargets(checkTargets(results, rounds)));
  const calibration = formatCalibration(results);
  if (calibration !== '') console.log(`\n${calibration}`);
  if (values.json !== undefined) {
    writeFileSync(values.json, `${JSON.stringify({ results }, null, 2)}\n`);
    console.log(`\nwrote ${values.json}`);
  }
}

await main();
