/** A benchmark's targets, judged the same way in every report: median ratio, and its spread by round. */

export interface TargetCheck {
  description: string;
  /** Median over median: the number the target is judged on. */
  ratio: number;
  minimum: number;
  pass: boolean;
  /** Quartiles of the same ratio taken round by round; a range that spans the minimum is noise. */
  roundQuartiles: readonly [number, number] | null;
}

export function quartiles(values: readonly number[]): readonly [number, number] | null {
  if (values.length < 4) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.floor(q * (sorted.length - 1))] as number;
  return [at(0.25), at(0.75)];
}

/** Rounds are interleaved, so the two sides of one round saw the same machine: pair them by index. */
export function pairedRatios(values: readonly number[], bases: readonly number[]): number[] {
  return values.flatMap((value, i) => (bases[i] === undefined ? [] : [value / (bases[i] as number)]));
}

/**
 * One target: `value` over `base` (medians) against `minimum`, with the spread of the same ratio
 * taken round by round when both sides' rounds are known.
 */
export function checkRatio(
  description: string,
  value: number,
  base: number,
  minimum: number,
  rounds: { values: readonly number[]; bases: readonly number[] } = { values: [], bases: [] },
): TargetCheck {
  const ratio = value / base;
  return {
    description,
    ratio,
    minimum,
    pass: ratio >= minimum,
    roundQuartiles: quartiles(pairedRatios(rounds.values, rounds.bases)),
  };
}

/** One PASS/FAIL line, descriptions padded to `width`, ratios written by the report's own `formatRatio`. */
function formatCheck(check: TargetCheck, width: number, formatRatio: (ratio: number) => string): string {
  const line = `  ${check.pass ? 'PASS' : 'FAIL'}  ${check.description.padEnd(width)}  measured ${formatRatio(check.ratio)}`;
  if (check.roundQuartiles === null) return line;
  const [low, high] = check.roundQuartiles;
  const noisy = low < check.minimum && high >= check.minimum ? ', within noise' : '';
  return `${line.padEnd(width + 26)} (rounds: ${formatRatio(low)}–${formatRatio(high)}${noisy})`;
}

/** The targets block of a report: how many were met, then a PASS/FAIL line each. */
export function formatTargetLines(
  checks: readonly TargetCheck[],
  formatRatio: (ratio: number) => string,
): string {
  if (checks.length === 0) return 'targets: none could be checked (missing results)';
  const width = Math.max(...checks.map((check) => check.description.length));
  const failed = checks.filter((check) => !check.pass).length;
  return [
    `targets: ${checks.length - failed} of ${checks.length} met ` +
      '(rounds: interquartile range of the per-round ratio)',
    ...checks.map((check) => formatCheck(check, width, formatRatio)),
  ].join('\n');
}
