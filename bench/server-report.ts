/**
 * The server benchmark's table, targets and JSON, computed from the medians of each (name, impl).
 * Pure functions of the results, so they work as well on a saved --json file.
 */
import {
  formatMs,
  formatPercent,
  formatRate,
  formatRatio,
  renderTable,
  SATURATED_BUSY,
} from './http-report.js';
import { checkRatio, formatTargetLines, pairedRatios, quartiles, type TargetCheck } from './targets.js';

export const NAMES = ['healthz', 'jwks', 'me', 'refresh', 'login'] as const;
export type Name = (typeof NAMES)[number];

/** `fastify` is the bare route; `raw` is the machine's commit rate (refresh) or argon2id rate (login). */
export const IMPLS = ['latchkey', 'fastify', 'fastify+@fastify/jwt', 'raw'] as const;
export type Impl = (typeof IMPLS)[number];

/** What Latchkey's figure for each name is set beside. */
export const PEER_OF: Readonly<Record<Name, Exclude<Impl, 'latchkey'>>> = {
  healthz: 'fastify',
  jwks: 'fastify',
  me: 'fastify+@fastify/jwt',
  refresh: 'raw',
  login: 'raw',
};

/**
 * A second measure some names are set beside, with no target: for logins, a bare Fastify route that
 * only verifies the password, which shows what answering a login over HTTP costs on the server's core
 * before Latchkey does anything of its own.
 */
export const SECOND_PEER_OF: Readonly<Partial<Record<Name, Exclude<Impl, 'latchkey'>>>> = {
  login: 'fastify',
};

export interface Variant {
  name: Name;
  impl: Impl;
}

/** One entry of the --json file. */
export interface ServerResult extends Variant {
  /** Median over rounds of the successful requests (or commits, or verifications) per second. */
  perSec: number;
  /** Median over rounds of each round's 99th-percentile latency, in ms. */
  p99Ms: number;
}

/** A result as measured, with the CPU the serving process used over wall time (1 = one core busy). */
export interface MeasuredResult extends ServerResult {
  busy: number;
}

/** A result from a --json file has no `busy`. */
type TableResult = ServerResult & { busy?: number };

export const variantKey = ({ name, impl }: Variant): string => `${name} ${impl}`;

/** Every variant, in table order: each name's Latchkey, then its peer, then its second peer if any. */
export function allVariants(): Variant[] {
  return NAMES.flatMap((name): Variant[] => {
    const second = SECOND_PEER_OF[name];
    return [
      { name, impl: 'latchkey' },
      { name, impl: PEER_OF[name] },
      ...(second === undefined ? [] : [{ name, impl: second }]),
    ];
  });
}

/** The peer of each row as the table names it; the notes under the table say more ([n]). */
const PEER_LABEL: Readonly<Record<Name, string>> = {
  healthz: 'fastify: bare route [1]',
  jwks: 'fastify: static JSON [2]',
  me: 'fastify+@fastify/jwt ES256 [3]',
  refresh: 'raw: SQLite commits [4]',
  login: 'raw: argon2id verifications [5]',
};

const SECOND_PEER_LABEL: Readonly<Partial<Record<Name, string>>> = {
  login: 'fastify: verify only [6]',
};

/** The targets: Latchkey's rate over its peer's, at least `minimum`. */
export const TARGETS: readonly { name: Name; minimum: number; description: string }[] = [
  { name: 'healthz', minimum: 0.6, description: 'the bare Fastify route' },
  { name: 'me', minimum: 1.3, description: 'Fastify + @fastify/jwt ES256 (one token repeated)' },
  { name: 'refresh', minimum: 1.0, description: 'raw single-row SQLite commits/s' },
  { name: 'login', minimum: 0.9, description: 'raw argon2id verifications/s at the hash concurrency' },
];

type Lookup = (variant: Variant) => TableResult | undefined;

function createLookup(results: readonly TableResult[]): Lookup {
  const byKey = new Map(results.map((result) => [variantKey(result), result]));
  return (variant) => byKey.get(variantKey(variant));
}

const busyCell = (result: TableResult): string =>
  result.busy === undefined ? '' : formatPercent(result.busy);

function figures(result: TableResult | undefined): string[] {
  if (result === undefined) return ['n/a', '', ''];
  return [formatRate(result.perSec), formatMs(result.p99Ms), busyCell(result)];
}

/** The one table: per name, Latchkey's figures beside its peer's, the ratio, and the target. */
export function formatTable(results: readonly TableResult[]): string {
  const lookup = createLookup(results);
  const header = [
    '',
    'compared with',
    'latchkey/s',
    'p99 ms',
    'busy',
    'peer/s',
    'p99 ms',
    'busy',
    '÷ peer',
    'per CPU',
    'target',
  ];
  const row = (name: Name, impl: Impl, label: string, minimum: number | undefined): string[] => {
    const latchkey = lookup({ name, impl: 'latchkey' });
    const peer = lookup({ name, impl });
    return [
      name,
      label,
      ...figures(latchkey),
      ...figures(peer),
      latchkey === undefined || peer === undefined ? '' : formatRatio(latchkey.perSec / peer.perSec),
      latchkey === undefined || peer === undefined ? '' : capacityCell(latchkey, peer),
      minimum === undefined ? '' : `≥ ${minimum.toFixed(1)}×`,
    ];
  };
  const rows = NAMES.flatMap((name) => {
    const minimum = TARGETS.find((target) => target.name === name)?.minimum;
    const second = SECOND_PEER_OF[name];
    return [
      row(name, PEER_OF[name], PEER_LABEL[name], minimum),
      ...(second === undefined ? [] : [row(name, second, SECOND_PEER_LABEL[name] ?? second, undefined)]),
    ];
  });
  return renderTable([header, ...rows], 2);
}

/**
 * Requests per second of the serving process's CPU: what one core of it could serve. On a machine
 * where the load generator has one core, it cannot keep a fast server busy, and the rate then says
 * as much about the generator (which also parses every header a server sends) as about the server.
 */
export const capacity = (result: TableResult): number | undefined =>
  result.busy === undefined || result.busy <= 0 ? undefined : result.perSec / result.busy;

function capacityCell(latchkey: TableResult, peer: TableResult): string {
  const [mine, theirs] = [capacity(latchkey), capacity(peer)];
  if (!LOADED_BY_AUTOCANNON.has(latchkey.name) || mine === undefined || theirs === undefined) return '';
  return formatRatio(mine / theirs);
}

/**
 * The autocannon targets again, on requests per second of server CPU: shown when a server of the
 * pair was not saturated, so that the rate ratio above is the load generator's as much as theirs.
 */
export function checkCapacityTargets(results: readonly TableResult[]): TargetCheck[] {
  const lookup = createLookup(results);
  return TARGETS.flatMap(({ name, minimum, description }) => {
    if (!LOADED_BY_AUTOCANNON.has(name)) return [];
    const latchkey = lookup({ name, impl: 'latchkey' });
    const peer = lookup({ name, impl: PEER_OF[name] });
    if (latchkey === undefined || peer === undefined) return [];
    const [mine, theirs] = [capacity(latchkey), capacity(peer)];
    if (mine === undefined || theirs === undefined) return [];
    if ((latchkey.busy ?? 1) >= SATURATED_BUSY && (peer.busy ?? 1) >= SATURATED_BUSY) return [];
    return [
      checkRatio(`${name}: latchkey ≥ ${minimum.toFixed(1)}× ${description}, per CPU`, mine, theirs, minimum),
    ];
  });
}

/** Each variant's rate round by round, in round order, so Latchkey and its peer pair per round. */
export type RoundsLookup = (variant: Variant) => readonly number[] | undefined;

export function checkTargets(
  results: readonly TableResult[],
  rounds: RoundsLookup = () => undefined,
): TargetCheck[] {
  const lookup = createLookup(results);
  return TARGETS.flatMap(({ name, minimum, description }) => {
    const value: Variant = { name, impl: 'latchkey' };
    const base: Variant = { name, impl: PEER_OF[name] };
    const measured = lookup(value);
    const reference = lookup(base);
    if (measured === undefined || reference === undefined) return [];
    return [
      checkRatio(
        `${name}: latchkey ≥ ${minimum.toFixed(1)}× ${description}`,
        measured.perSec,
        reference.perSec,
        minimum,
        { values: rounds(value) ?? [], bases: rounds(base) ?? [] },
      ),
    ];
  });
}

/**
 * For scale, under the targets: how much of the raw argon2id rate the verify-only Fastify route keeps.
 * No login that answers over HTTP on the server's core does much better; empty unless both were run.
 */
export function formatLoginScale(
  results: readonly TableResult[],
  rounds: RoundsLookup = () => undefined,
): string {
  const lookup = createLookup(results);
  const route: Variant = { name: 'login', impl: 'fastify' };
  const raw: Variant = { name: 'login', impl: 'raw' };
  const [measured, reference] = [lookup(route), lookup(raw)];
  if (measured === undefined || reference === undefined) return '';
  const spread = quartiles(pairedRatios(rounds(route) ?? [], rounds(raw) ?? []));
  return (
    `for scale: a bare Fastify route that only verifies the password [6] reaches ` +
    `${formatRatio(measured.perSec / reference.perSec)} the raw argon2id rate` +
    (spread === null ? '' : ` (rounds: ${formatRatio(spread[0])}–${formatRatio(spread[1])})`)
  );
}

export function formatTargets(checks: readonly TargetCheck[]): string {
  return formatTargetLines(checks, formatRatio);
}

/** The names autocannon measures: there, a server that is not busy waited for requests or for a CPU. */
const LOADED_BY_AUTOCANNON: ReadonlySet<Name> = new Set(['healthz', 'jwks', 'me']);

/** Words filled into lines of at most `width` characters. */
function wrap(text: string, width: number): string {
  const lines: string[] = [];
  for (const word of text.split(' ')) {
    const last = lines.length - 1;
    if (last >= 0 && (lines[last] as string).length + 1 + word.length <= width) lines[last] += ` ${word}`;
    else lines.push(word);
  }
  return lines.join('\n');
}

/**
 * The autocannon rows whose server kept its core less than 90% busy: it waited for the load
 * generator, or for a CPU that other processes held. A peer so limited reads slow, and Latchkey's
 * ratio to it high.
 */
export function formatLoadCheck(results: readonly TableResult[]): string {
  const idle = results.filter(
    (result) =>
      LOADED_BY_AUTOCANNON.has(result.name) && result.busy !== undefined && result.busy < SATURATED_BUSY,
  );
  if (idle.length === 0) return '';
  const listed = idle.map((result) => `${variantKey(result)} ${busyCell(result)}`).join(', ');
  return wrap(
    `load check: the server kept its core less than ${formatPercent(SATURATED_BUSY)} busy in ${listed}: ` +
      'it waited for the load generator or for a CPU other processes held, so its rate is a floor there, ' +
      'and a ratio to a peer so limited reads high',
    100,
  );
}

/** The --json file: exactly name, impl, perSec and p99Ms of each result, in table order. */
export function toJSON(results: readonly TableResult[]): { results: ServerResult[] } {
  const lookup = createLookup(results);
  return {
    results: allVariants().flatMap((variant) => {
      const result = lookup(variant);
      if (result === undefined) return [];
      const { name, impl, perSec, p99Ms } = result;
      return [{ name, impl, perSec, p99Ms }];
    }),
  };
}
