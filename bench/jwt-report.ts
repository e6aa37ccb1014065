/**
 * Tables and target checks for the JWT benchmark, computed from the median ops/s of each
 * (alg, op, impl). Pure functions of the results, so they work as well on a saved --json file.
 */
import { ALGS, type BenchAlg, IMPLS_BY_OP, type Impl, type Op } from './jwt-contenders.js';
import { checkRatio, formatTargetLines, type TargetCheck } from './targets.js';

export interface Result {
  alg: BenchAlg;
  op: Op;
  impl: Impl;
  opsPerSec: number;
}

/** The libraries latchkey is compared with; the floor and the cached variants are not peers. */
const PEERS: readonly Impl[] = ['jose', 'fast-jwt', 'jsonwebtoken'];

type Lookup = (alg: BenchAlg, op: Op, impl: Impl) => number | undefined;

export function createLookup(results: readonly Result[]): Lookup {
  const byKey = new Map(results.map((r) => [`${r.alg} ${r.op} ${r.impl}`, r.opsPerSec]));
  return (alg, op, impl) => byKey.get(`${alg} ${op} ${impl}`);
}

/** Three significant digits are as many as run-to-run noise allows. */
export function formatRate(opsPerSec: number): string {
  if (opsPerSec >= 1e6) return `${(opsPerSec / 1e6).toFixed(2)}M`;
  if (opsPerSec >= 1e3) return `${(opsPerSec / 1e3).toFixed(opsPerSec >= 1e5 ? 0 : 1)}k`;
  return opsPerSec.toFixed(0);
}

/** Two decimals matter near 1×; far from it (a cache against a signature check) they are noise. */
const formatRatio = (ratio: number): string => `${ratio.toFixed(ratio >= 10 ? 0 : 2)}×`;

function bestPeer(lookup: Lookup, alg: BenchAlg, op: Op): { impl: Impl; opsPerSec: number } | undefined {
  let best: { impl: Impl; opsPerSec: number } | undefined;
  for (const impl of PEERS) {
    const opsPerSec = lookup(alg, op, impl);
    if (opsPerSec !== undefined && (best === undefined || opsPerSec > best.opsPerSec))
      best = { impl, opsPerSec };
  }
  return best;
}

function implCell(lookup: Lookup, alg: BenchAlg, op: Op, impl: Impl): string {
  const opsPerSec = lookup(alg, op, impl);
  if (opsPerSec === undefined) return 'n/a';
  const floor = lookup(alg, op, 'floor');
  if (impl === 'floor' || floor === undefined) return formatRate(opsPerSec);
  return `${formatRate(opsPerSec)} (${formatRatio(opsPerSec / floor)})`;
}

function ratioCell(numerator: number | undefined, denominator: number | undefined, name = ''): string {
  if (numerator === undefined || denominator === undefined) return 'n/a';
  return `${formatRatio(numerator / denominator)}${name === '' ? '' : ` ${name}`}`;
}

/** Columns padded to their widest cell; the first column left-aligned, numbers right-aligned. */
function renderTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
  const render = (row: readonly string[]) =>
    row
      .map((cell, column) =>
        column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0),
      )
      .join('  ');
  const [header, ...body] = rows;
  if (header === undefined) return '';
  const rule = widths.map((width) => '-'.repeat(width)).join('  ');
  return [render(header), rule, ...body.map(render)].join('\n');
}

/** One table per op: median ops/s of each impl with its ratio to the floor, then latchkey's ratios. */
export function formatOpTable(results: readonly Result[], op: Op): string {
  const lookup = createLookup(results);
  const impls = IMPLS_BY_OP[op];
  const header = ['alg', ...impls, 'latchkey ÷ best peer'];
  if (op === 'verify') header.push('+cache ÷ fast-jwt+cache');
  const rows = ALGS.map((alg) => {
    const peer = bestPeer(lookup, alg, op);
    const row = [
      alg,
      ...impls.map((impl) => implCell(lookup, alg, op, impl)),
      ratioCell(lookup(alg, op, 'latchkey'), peer?.opsPerSec, peer?.impl),
    ];
    if (op === 'verify') {
      row.push(ratioCell(lookup(alg, op, 'latchkey+cache'), lookup(alg, op, 'fast-jwt+cache')));
    }
    return row;
  });
  return `${op}: median ops/s (ratio to floor)\n${renderTable([header, ...rows])}\n${NOTES[op]}`;
}

const NOTES: Readonly<Record<Op, string>> = {
  sign:
    'jose 6 signs through WebCrypto: every call is an async job on the libuv thread pool, awaited one ' +
    'at a time.\njsonwebtoken 9 has no EdDSA. Best peer: the fastest of jose, fast-jwt, jsonwebtoken.',
  verify:
    'Cached rows verify the same token string again and again (V8 keeps its hash), the best case for ' +
    'a cache.\njsonwebtoken 9 has no EdDSA and cannot check typ or require exp; the others check iss, ' +
    'aud, typ, and require exp.',
};

/** Each case's ops/s round by round, in round order, so two cases can be paired per round. */
export type RoundsLookup = (alg: BenchAlg, op: Op, impl: Impl) => readonly number[] | undefined;

/** The issue's targets: each is latchkey (or its cache) over a reference, against a minimum ratio. */
export function checkTargets(
  results: readonly Result[],
  rounds: RoundsLookup = () => undefined,
): TargetCheck[] {
  const lookup = createLookup(results);
  const checks: TargetCheck[] = [];
  const add = (alg: BenchAlg, op: Op, impl: Impl, reference: Impl, minimum: number) => {
    const value = lookup(alg, op, impl);
    const base = lookup(alg, op, reference);
    if (value === undefined || base === undefined) return;
    checks.push(
      checkRatio(`${op} ${alg}: ${impl} ≥ ${minimum.toFixed(2)}× ${reference}`, value, base, minimum, {
        values: rounds(alg, op, impl) ?? [],
        bases: rounds(alg, op, reference) ?? [],
      }),
    );
  };
  for (const alg of ALGS) add(alg, 'verify', 'latchkey', 'fast-jwt', alg === 'HS256' ? 1.15 : 1.0);
  for (const alg of ALGS) if (alg !== 'HS256') add(alg, 'verify', 'latchkey', 'floor', 0.9);
  for (const alg of ALGS) add(alg, 'sign', 'latchkey', 'fast-jwt', 1.0);
  for (const alg of ALGS) add(alg, 'verify', 'latchkey+cache', 'fast-jwt+cache', 1.0);
  return checks;
}

export function formatTargets(checks: readonly TargetCheck[]): string {
  return formatTargetLines(checks, formatRatio);
}

/** fast-jwt's verify ÷ floor on the machine where the issue set the floor targets. */
const CALIBRATION_BASELINE: ReadonlyArray<readonly [BenchAlg, number]> = [
  ['HS256', 0.39],
  ['RS256', 0.83],
  ['ES256', 0.95],
  ['EdDSA', 0.93],
];

/** Beyond this relative difference from the baseline, the machine is not the one the floor targets fit. */
const CALIBRATION_TOLERANCE = 0.08;

/**
 * A ratio to the floor measures how fast a machine runs JavaScript next to OpenSSL as much as the
 * code: the same build reads 0.91× on one machine and 0.76× on a slower, busier one. fast-jwt,
 * which nothing here changes, shows which kind of machine this is. The checks themselves are unchanged.
 */
export function formatCalibration(results: readonly Result[]): string {
  const lookup = createLookup(results);
  let off = false;
  const parts = CALIBRATION_BASELINE.flatMap(([alg, baseline]) => {
    const peer = lookup(alg, 'verify', 'fast-jwt');
    const floor = lookup(alg, 'verify', 'floor');
    if (peer === undefined || floor === undefined) return [];
    const ratio = peer / floor;
    if (Math.abs(ratio / baseline - 1) > CALIBRATION_TOLERANCE) off = true;
    return [`${alg} ${formatRatio(ratio)} (${formatRatio(baseline)} when the targets were set)`];
  });
  if (parts.length === 0) return '';
  const verdict = off
    ? 'more than 8% off, so ratios to the floor on this machine do not compare with the targets'
    : 'within 8%, so ratios to the floor on this machine compare with the targets';
  return `machine check: fast-jwt verify ÷ floor here is ${parts.join(', ')}; ${verdict}`;
}
