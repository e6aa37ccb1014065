import { describe, expect, it } from 'vitest';
import {
  allVariants,
  checkCapacityTargets,
  checkTargets,
  formatLoadCheck,
  formatLoginScale,
  formatTable,
  type MeasuredResult,
  type Name,
  PEER_OF,
  toJSON,
  type Variant,
  variantKey,
} from '../../bench/server-report.js';

function result(variant: Variant, perSec: number, busy = 0.99): MeasuredResult {
  return { ...variant, perSec, p99Ms: 1.234, busy };
}

/**
 * Every variant measured, each name's peer at 1000/s, Latchkey at `ratios[name]` × that, and a second
 * peer at 800/s, so that a target judged against the wrong peer shows.
 */
function results(ratios: Record<Name, number>): MeasuredResult[] {
  return allVariants().map((variant) => {
    if (variant.impl === 'latchkey') return result(variant, 1000 * ratios[variant.name]);
    return result(variant, variant.impl === PEER_OF[variant.name] ? 1000 : 800);
  });
}

const AT_TARGET = { healthz: 0.6, jwks: 1, me: 1.3, refresh: 1.0, login: 0.9 };

describe('allVariants', () => {
  it('sets each name’s Latchkey beside its peer, and logins beside a second one', () => {
    expect(allVariants().map(variantKey)).toEqual([
      'healthz latchkey',
      'healthz fastify',
      'jwks latchkey',
      'jwks fastify',
      'me latchkey',
      'me fastify+@fastify/jwt',
      'refresh latchkey',
      'refresh raw',
      'login latchkey',
      'login raw',
      'login fastify',
    ]);
    expect(PEER_OF.me).toBe('fastify+@fastify/jwt');
  });
});

describe('checkCapacityTargets', () => {
  it('judges the autocannon targets on requests per CPU-second when a server was not saturated', () => {
    const checks = checkCapacityTargets([
      result({ name: 'me', impl: 'latchkey' }, 3_000, 0.35),
      result({ name: 'me', impl: 'fastify+@fastify/jwt' }, 2_500, 0.5),
      result({ name: 'healthz', impl: 'latchkey' }, 10_000, 0.99),
      result({ name: 'healthz', impl: 'fastify' }, 12_000, 0.95),
    ]);
    // healthz: both saturated, the rate ratio stands on its own; me: 8,571 vs 5,000 per CPU-second.
    expect(checks).toHaveLength(1);
    expect(checks[0]?.description).toBe(
      'me: latchkey ≥ 1.3× Fastify + @fastify/jwt ES256 (one token repeated), per CPU',
    );
    expect(checks[0]?.ratio).toBeCloseTo(8571.43 / 5000, 3);
    expect(checks[0]?.pass).toBe(true);
  });

  it('leaves out what has no CPU figure (a --json file) and the rows autocannon does not load', () => {
    const fromFile = [
      { name: 'me' as const, impl: 'latchkey' as const, perSec: 1, p99Ms: 1 },
      { name: 'me' as const, impl: 'fastify+@fastify/jwt' as const, perSec: 1, p99Ms: 1 },
    ];
    expect(checkCapacityTargets(fromFile)).toEqual([]);
    expect(
      checkCapacityTargets([
        result({ name: 'refresh', impl: 'latchkey' }, 100, 0.2),
        result({ name: 'refresh', impl: 'raw' }, 50, 0.2),
      ]),
    ).toEqual([]);
  });
});

describe('formatTable', () => {
  it('puts Latchkey and its peer side by side, with the ratio and the target', () => {
    const table = formatTable([
      result({ name: 'me', impl: 'latchkey' }, 12_000),
      result({ name: 'me', impl: 'fastify+@fastify/jwt' }, 8_000, 0.5),
      result({ name: 'jwks', impl: 'latchkey' }, 20_000),
      result({ name: 'jwks', impl: 'fastify' }, 25_000),
    ]);
    const lines = table.split('\n');
    expect(lines[0]).toMatch(
      /^ +compared with +latchkey\/s +p99 ms +busy +peer\/s +p99 ms +busy +÷ peer +per CPU +target$/,
    );
    expect(table).toMatch(
      /^me +fastify\+@fastify\/jwt ES256 \[3\] +12\.0k +1\.23 +99% +8\.00k +1\.23 +50% +1\.50× +0\.76× +≥ 1\.3×$/m,
    );
    expect(table).toMatch(
      /^jwks +fastify: static JSON \[2\] +20\.0k +1\.23 +99% +25\.0k +1\.23 +99% +0\.80× +0\.80×$/m,
    );
    expect(table).toMatch(/^refresh +raw: SQLite commits \[4\] +n\/a +n\/a +≥ 1\.0×$/m);
  });

  it('gives logins a second row beside the verify-only route, with no target', () => {
    const table = formatTable([
      result({ name: 'login', impl: 'latchkey' }, 60),
      result({ name: 'login', impl: 'raw' }, 80),
      result({ name: 'login', impl: 'fastify' }, 72),
    ]);
    expect(table).toMatch(
      /^login +raw: argon2id verifications \[5\] +60 +1\.23 +99% +80 +1\.23 +99% +0\.75× +≥ 0\.9×$/m,
    );
    expect(table).toMatch(/^login +fastify: verify only \[6\] +60 +1\.23 +99% +72 +1\.23 +99% +0\.83×$/m);
  });

  it('leaves busy empty for results read back from a --json file', () => {
    const table = formatTable(toJSON(results(AT_TARGET)).results);
    expect(table).toMatch(
      /^login +raw: argon2id verifications \[5\] +900 +1\.23 +1\.00k +1\.23 +0\.90× +≥ 0\.9×$/m,
    );
  });
});

describe('checkTargets', () => {
  it('passes every target at its minimum, and names what it compares', () => {
    const checks = checkTargets(results(AT_TARGET));
    expect(checks.map((check) => check.description)).toEqual([
      'healthz: latchkey ≥ 0.6× the bare Fastify route',
      'me: latchkey ≥ 1.3× Fastify + @fastify/jwt ES256 (one token repeated)',
      'refresh: latchkey ≥ 1.0× raw single-row SQLite commits/s',
      'login: latchkey ≥ 0.9× raw argon2id verifications/s at the hash concurrency',
    ]);
    expect(checks.every((check) => check.pass)).toBe(true);
    expect(checks.map((check) => check.ratio)).toEqual([
      expect.closeTo(0.6),
      expect.closeTo(1.3),
      expect.closeTo(1.0),
      expect.closeTo(0.9),
    ]);
  });

  it('fails each target just below its minimum', () => {
    const checks = checkTargets(results({ healthz: 0.59, jwks: 1, me: 1.29, refresh: 0.99, login: 0.89 }));
    expect(checks).toHaveLength(4);
    expect(checks.some((check) => check.pass)).toBe(false);
  });

  it('pairs Latchkey’s rounds with its peer’s for the quartiles', () => {
    const rounds = (variant: Variant): number[] | undefined => {
      if (variantKey(variant) === 'refresh latchkey') return [70, 80, 90, 100, 110];
      if (variantKey(variant) === 'refresh raw') return [100, 100, 100, 100, 100];
      return undefined;
    };
    const check = checkTargets(results(AT_TARGET), rounds).find((c) => c.description.startsWith('refresh'));
    expect(check?.roundQuartiles).toEqual([expect.closeTo(0.8), expect.closeTo(1.0)]);
    expect(checkTargets(results(AT_TARGET))[0]?.roundQuartiles).toBe(null);
  });

  it('skips a target whose two sides were not both measured', () => {
    expect(checkTargets([result({ name: 'healthz', impl: 'latchkey' }, 1)])).toEqual([]);
  });
});

describe('formatLoginScale', () => {
  it('says how much of the raw argon2id rate the verify-only route keeps, with its rounds', () => {
    const measured = [
      result({ name: 'login', impl: 'raw' }, 80),
      result({ name: 'login', impl: 'fastify' }, 72),
      result({ name: 'login', impl: 'latchkey' }, 60),
    ];
    const rounds = (variant: Variant): number[] | undefined =>
      ({ 'login raw': [80, 80, 80, 80], 'login fastify': [68, 72, 76, 80] })[variantKey(variant)];
    expect(formatLoginScale(measured, rounds)).toBe(
      'for scale: a bare Fastify route that only verifies the password [6] reaches 0.90× the raw ' +
        'argon2id rate (rounds: 0.85×–0.95×)',
    );
    expect(formatLoginScale(measured)).toBe(
      'for scale: a bare Fastify route that only verifies the password [6] reaches 0.90× the raw argon2id rate',
    );
  });

  it('says nothing unless both were measured', () => {
    expect(formatLoginScale([result({ name: 'login', impl: 'raw' }, 80)])).toBe('');
    expect(formatLoginScale([result({ name: 'login', impl: 'fastify' }, 80)])).toBe('');
  });
});

describe('formatLoadCheck', () => {
  it('names the autocannon rows whose server waited for the load generator', () => {
    const measured = [
      result({ name: 'healthz', impl: 'fastify' }, 30_000, 0.45),
      result({ name: 'healthz', impl: 'latchkey' }, 12_000, 0.98),
      // A refresh server that waits for the disk is not waiting for the load generator.
      result({ name: 'refresh', impl: 'latchkey' }, 500, 0.3),
    ];
    expect(formatLoadCheck(measured)).toBe(
      'load check: the server kept its core less than 90% busy in healthz fastify 45%: it waited for the\n' +
        'load generator or for a CPU other processes held, so its rate is a floor there, and a ratio to a\n' +
        'peer so limited reads high',
    );
    expect(formatLoadCheck(results(AT_TARGET))).toBe('');
  });
});

describe('toJSON', () => {
  it('writes name, impl, perSec and p99Ms of every result, and nothing else', () => {
    const json = toJSON([...results(AT_TARGET)].reverse());
    expect(Object.keys(json)).toEqual(['results']);
    expect(json.results.map(variantKey)).toEqual(allVariants().map(variantKey));
    for (const entry of json.results) expect(Object.keys(entry)).toEqual(['name', 'impl', 'perSec', 'p99Ms']);
    expect(json.results[0]).toEqual({ name: 'healthz', impl: 'latchkey', perSec: 600, p99Ms: 1.234 });
  });
});
