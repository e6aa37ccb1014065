/**
 * The store benchmark's table, targets and JSON, from the medians of each variant. Pure functions of
 * the results, so they work as well on a saved --json file.
 */
import { formatMs, formatRate, formatRatio, renderTable } from './http-report.js';
import { checkRatio, formatTargetLines, type TargetCheck } from './targets.js';

export const STORES = ['sqlite', 'postgres'] as const;
export type StoreName = (typeof STORES)[number];
export const OPS = ['refresh', 'login'] as const;
export type Op = (typeof OPS)[number];
export const WORKER_COUNTS = [1, 2] as const;

/**
 * Latchkey: a store, a number of workers, an op. Raw: a refresh's is the store's single-row commit
 * rate (no workers); a login's is argon2id at the hash concurrency of that many workers (no store).
 */
export interface StoreVariant {
  store: StoreName | null;
  workers: number | null;
  op: Op;
  impl: 'latchkey' | 'raw';
}

/** One entry of the --json file. */
export interface StoreResult extends StoreVariant {
  /** Median over rounds of the successful requests (commits, verifications) per second. */
  perSec: number;
  /** Median over rounds of each round's 99th-percentile latency, in ms. */
  p99Ms: number;
}

export const variantKey = ({ store, workers, op, impl }: StoreVariant): string =>
  `${op} ${store ?? '-'} ${workers ?? '-'} ${impl}`;

/** The raw rate a Latchkey variant is set beside. */
export function rawOf({ store, workers, op }: StoreVariant): StoreVariant {
  return op === 'refresh'
    ? { store, workers: null, op, impl: 'raw' }
    : { store: null, workers, op, impl: 'raw' };
}

/** Every Latchkey variant, in table order: by op, store, workers. */
export function latchkeyVariants(): StoreVariant[] {
  return OPS.flatMap((op) =>
    STORES.flatMap((store) =>
      WORKER_COUNTS.map((workers): StoreVariant => ({ store, workers, op, impl: 'latchkey' })),
    ),
  );
}

/** Every variant: each Latchkey one, then the raw rates, each once. */
export function allVariants(): StoreVariant[] {
  const raws = new Map<string, StoreVariant>();
  for (const variant of latchkeyVariants()) raws.set(variantKey(rawOf(variant)), rawOf(variant));
  return [...latchkeyVariants(), ...raws.values()];
}

/** The target: PostgreSQL refreshes/s at least half its raw single-row commit rate. */
export const TARGET = { store: 'postgres', op: 'refresh', minimum: 0.5 } as const;

const RAW_LABEL: Readonly<Record<string, string>> = {
  'refresh sqlite': 'SQLite commits [1]',
  'refresh postgres': 'PostgreSQL commits [2]',
  login: 'argon2id verifications [3]',
};

const rawLabel = ({ op, store }: StoreVariant): string =>
  (op === 'login' ? RAW_LABEL.login : RAW_LABEL[`${op} ${store}`]) ?? '';

type Lookup = (variant: StoreVariant) => StoreResult | undefined;

function createLookup(results: readonly StoreResult[]): Lookup {
  const byKey = new Map(results.map((result) => [variantKey(result), result]));
  return (variant) => byKey.get(variantKey(variant));
}

const isTarget = ({ store, op }: StoreVariant): boolean => store === TARGET.store && op === TARGET.op;

function figures(result: StoreResult | undefined): string[] {
  return result === undefined ? ['n/a', ''] : [formatRate(result.perSec), formatMs(result.p99Ms)];
}

/** One row per Latchkey variant: its rate beside the raw rate, the ratio, and the target. */
export function formatTable(results: readonly StoreResult[]): string {
  const lookup = createLookup(results);
  const header = [
    'op',
    'store',
    'workers',
    'latchkey/s',
    'p99 ms',
    'raw',
    'raw/s',
    'p99 ms',
    '÷ raw',
    'target',
  ];
  const rows = latchkeyVariants().map((variant) => {
    const latchkey = lookup(variant);
    const raw = lookup(rawOf(variant));
    return [
      variant.op,
      variant.store ?? '',
      String(variant.workers),
      ...figures(latchkey),
      rawLabel(variant),
      ...figures(raw),
      latchkey === undefined || raw === undefined ? '' : formatRatio(latchkey.perSec / raw.perSec),
      isTarget(variant) ? `≥ ${TARGET.minimum.toFixed(1)}×` : '',
    ];
  });
  return renderTable([header, ...rows], 3);
}

/** Each variant's rate round by round, in round order, so Latchkey and its raw rate pair per round. */
export type RoundsLookup = (variant: StoreVariant) => readonly number[] | undefined;

export function checkTargets(
  results: readonly StoreResult[],
  rounds: RoundsLookup = () => undefined,
): TargetCheck[] {
  const lookup = createLookup(results);
  return latchkeyVariants()
    .filter(isTarget)
    .flatMap((variant) => {
      const measured = lookup(variant);
      const raw = lookup(rawOf(variant));
      if (measured === undefined || raw === undefined) return [];
      return [
        checkRatio(
          `PostgreSQL refreshes/s, ${variant.workers} worker${variant.workers === 1 ? '' : 's'}, ≥ ` +
            `${TARGET.minimum.toFixed(1)}× raw single-row commits/s`,
          measured.perSec,
          raw.perSec,
          TARGET.minimum,
          { values: rounds(variant) ?? [], bases: rounds(rawOf(variant)) ?? [] },
        ),
      ];
    });
}

export function formatTargets(checks: readonly TargetCheck[]): string {
  return formatTargetLines(checks, formatRatio);
}

/** The --json file: store, workers, op, impl, perSec and p99Ms of each result, in table order. */
export function toJSON(results: readonly StoreResult[]): { results: StoreResult[] } {
  const lookup = createLookup(results);
  return {
    results: allVariants().flatMap((variant) => {
      const result = lookup(variant);
      if (result === undefined) return [];
      const { store, workers, op, impl, perSec, p99Ms } = result;
      return [{ store, workers, op, impl, perSec, p99Ms }];
    }),
  };
}
