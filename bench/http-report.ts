/**
 * The HTTP benchmark's table and target checks, computed from the per-variant medians. Pure
 * functions of the results, so they work as well on a saved --json file.
 */
import { checkRatio, formatTargetLines, type TargetCheck } from './targets.js';

export type { TargetCheck } from './targets.js';

export const HTTP_ALGS = ['HS256', 'ES256', 'EdDSA'] as const;
export type HttpAlg = (typeof HTTP_ALGS)[number];

export const FRAMEWORKS = ['fastify', 'express'] as const;
export type Framework = (typeof FRAMEWORKS)[number];

/** The frameworks alone are the ceilings; every other variant is one of them plus an auth layer. */
export const VARIANTS = [
  'fastify',
  'express',
  'fastify+latchkey',
  'fastify+@fastify/jwt',
  'express+latchkey',
  'express+jsonwebtoken-seed',
] as const;
export type Variant = (typeof VARIANTS)[number];

/** One server set-up: ceilings have no alg, and only latchkey variants have a cache setting. */
export interface Case {
  variant: Variant;
  alg: HttpAlg | null;
  cache: boolean | null;
}

export interface HttpResult extends Case {
  /** Median over rounds of the 200 responses per second. */
  reqPerSec: number;
  /** Median over rounds of each round's 99th-percentile latency, measured by the client. */
  p99Ms: number;
  /** Median over rounds of the server process's CPU time (user + system) per response, in µs. */
  serverCpuUsPerReq: number;
  /** Median over rounds of the server's CPU time over wall time: near 1 when the server set the pace. */
  serverBusy: number;
}

export const caseKey = ({ variant, alg, cache }: Case): string =>
  `${variant} ${alg ?? '-'} ${cache === null ? '-' : cache ? 'cache' : 'no-cache'}`;

export const frameworkOf = (variant: Variant): Framework => variant.split('+')[0] as Framework;

/** The peer each latchkey variant is compared with: what its framework's users reach for. */
const PEER_OF: Partial<Record<Variant, Variant>> = {
  'fastify+latchkey': 'fastify+@fastify/jwt',
  'express+latchkey': 'express+jsonwebtoken-seed',
};

/** jsonwebtoken 9 has no EdDSA, so the tutorial middleware has no EdDSA row. */
export const hasCase = ({ variant, alg }: Case): boolean =>
  !(variant === 'express+jsonwebtoken-seed' && alg === 'EdDSA');

/** Every case, in table order: the two ceilings, then each algorithm's variants framework by framework. */
export function allCases(): Case[] {
  const cases: Case[] = FRAMEWORKS.map((variant) => ({ variant, alg: null, cache: null }));
  for (const alg of HTTP_ALGS) {
    cases.push(
      { variant: 'fastify+latchkey', alg, cache: true },
      { variant: 'fastify+latchkey', alg, cache: false },
      { variant: 'fastify+@fastify/jwt', alg, cache: null },
      { variant: 'express+latchkey', alg, cache: true },
      { variant: 'express+latchkey', alg, cache: false },
      { variant: 'express+jsonwebtoken-seed', alg, cache: null },
    );
  }
  return cases;
}

type Lookup = (c: Case) => HttpResult | undefined;

function createLookup(results: readonly HttpResult[]): Lookup {
  const byKey = new Map(results.map((result) => [caseKey(result), result]));
  return (c) => byKey.get(caseKey(c));
}

const ceilingOf = (c: Case): Case => ({ variant: frameworkOf(c.variant), alg: null, cache: null });

function peerOf(c: Case): Case | null {
  const peer = PEER_OF[c.variant];
  return peer === undefined ? null : { variant: peer, alg: c.alg, cache: null };
}

/** Three significant digits are as many as run-to-run noise allows. */
export function formatRate(perSecond: number): string {
  if (perSecond >= 1e4) return `${(perSecond / 1e3).toFixed(1)}k`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(2)}k`;
  return perSecond.toFixed(0);
}

export const formatRatio = (ratio: number): string => `${ratio.toFixed(ratio >= 10 ? 1 : 2)}×`;
export const formatMs = (ms: number): string => ms.toFixed(ms >= 10 ? 1 : 2);
export const formatPercent = (fraction: number): string => `${(fraction * 100).toFixed(0)}%`;

function ratioCell(value: HttpResult | undefined, base: HttpResult | undefined): string {
  if (value === undefined || base === undefined) return '';
  return formatRatio(value.reqPerSec / base.reqPerSec);
}

/**
 * Columns padded to their widest cell; the first `textColumns` left-aligned, the others (numbers)
 * right-aligned.
 */
export function renderTable(rows: readonly (readonly string[])[], textColumns = 1): string {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
  const render = (row: readonly string[]) =>
    row
      .map((cell, column) =>
        column < textColumns ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0),
      )
      .join('  ')
      .trimEnd();
  const [header, ...body] = rows;
  if (header === undefined) return '';
  const rule = widths.map((width) => '-'.repeat(width)).join('  ');
  return [render(header), rule, ...body.map(render)].join('\n');
}

const cacheCell = (cache: boolean | null): string => (cache === null ? '' : cache ? 'on' : 'off');

/** The one table: every case's medians, its ratio to its framework's ceiling, and to its peer. */
export function formatTable(results: readonly HttpResult[]): string {
  const lookup = createLookup(results);
  const header = [
    'variant',
    'alg',
    'cache',
    'req/s',
    'p99 ms',
    'server µs/req',
    'busy',
    '÷ ceiling',
    '÷ peer',
  ];
  const rows = allCases().map((c) => {
    const name = c.alg === null ? `${c.variant} (ceiling)` : c.variant;
    const result = lookup(c);
    if (result === undefined) return [name, c.alg ?? '', cacheCell(c.cache), 'n/a'];
    const peer = peerOf(c);
    return [
      name,
      c.alg ?? '',
      cacheCell(c.cache),
      formatRate(result.reqPerSec),
      formatMs(result.p99Ms),
      result.serverCpuUsPerReq.toFixed(0),
      formatPercent(result.serverBusy),
      c.alg === null ? '' : ratioCell(result, lookup(ceilingOf(c))),
      peer === null ? '' : ratioCell(result, lookup(peer)),
    ];
  });
  return renderTable([header, ...rows]);
}

/** Each case's req/s round by round, in round order, so two cases can be paired per round. */
export type RoundsLookup = (c: Case) => readonly number[] | undefined;

const describeCase = (c: Case): string =>
  `${c.variant}${c.alg === null ? ' (ceiling)' : ` ${c.alg}`}${
    c.cache === null ? '' : c.cache ? ' +cache' : ' no cache'
  }`;

/** The issue's targets, each a req/s ratio of a latchkey variant over a reference. */
export function checkTargets(
  results: readonly HttpResult[],
  rounds: RoundsLookup = () => undefined,
): TargetCheck[] {
  const lookup = createLookup(results);
  const checks: TargetCheck[] = [];
  const add = (value: Case, reference: Case, minimum: number) => {
    const measured = lookup(value);
    const base = lookup(reference);
    if (measured === undefined || base === undefined) return;
    checks.push(
      checkRatio(
        `${describeCase(value)} ≥ ${minimum.toFixed(1)}× ${describeCase(reference)}`,
        measured.reqPerSec,
        base.reqPerSec,
        minimum,
        { values: rounds(value) ?? [], bases: rounds(reference) ?? [] },
      ),
    );
  };
  const fastifyCached: Case = { variant: 'fastify+latchkey', alg: 'ES256', cache: true };
  add(fastifyCached, { variant: 'fastify', alg: null, cache: null }, 0.8);
  add(fastifyCached, { variant: 'express+jsonwebtoken-seed', alg: 'ES256', cache: null }, 20);
  for (const alg of HTTP_ALGS) {
    add(
      { variant: 'fastify+latchkey', alg, cache: false },
      { variant: 'fastify+@fastify/jwt', alg, cache: null },
      1.2,
    );
  }
  add(
    { variant: 'express+latchkey', alg: 'ES256', cache: true },
    { variant: 'express', alg: null, cache: null },
    0.8,
  );
  return checks;
}

export function formatTargets(checks: readonly TargetCheck[]): string {
  return formatTargetLines(checks, formatRatio);
}

/** Below this share of one core, the server waited for requests: the client set the pace. */
export const SATURATED_BUSY = 0.9;

/**
 * A ceiling is only a ceiling if the server, not the load generator, set its pace. When the
 * framework alone kept its core less than 90% busy, its req/s is the client's limit, and every
 * ratio to it reads too high; server CPU per request then is the fairer comparison.
 */
export function formatLoadCheck(results: readonly HttpResult[]): string {
  const lookup = createLookup(results);
  const lines = FRAMEWORKS.flatMap((variant) => {
    const ceiling = lookup({ variant, alg: null, cache: null });
    if (ceiling === undefined) return [];
    const saturated = ceiling.serverBusy >= SATURATED_BUSY;
    return [
      `  ${variant}: server busy ${formatPercent(ceiling.serverBusy)} of its core, ` +
        (saturated
          ? 'so the server set the pace'
          : `so the load generator set the pace; ratios to this ceiling read high (by up to ${formatRatio(
              1 / ceiling.serverBusy,
            )}), compare server µs/req instead`),
    ];
  });
  return lines.length === 0 ? '' : ['load check (ceilings):', ...lines].join('\n');
}
