import { describe, expect, it } from 'vitest';
import {
  allCases,
  type Case,
  caseKey,
  checkTargets,
  formatLoadCheck,
  formatTable,
  type HttpResult,
  hasCase,
} from '../../bench/http-report.js';

function result(c: Case, reqPerSec: number, serverBusy = 0.99): HttpResult {
  return { ...c, reqPerSec, p99Ms: 1.234, serverCpuUsPerReq: 1e6 / reqPerSec, serverBusy };
}

const FASTIFY: Case = { variant: 'fastify', alg: null, cache: null };
const EXPRESS: Case = { variant: 'express', alg: null, cache: null };
const fastifyLatchkey = (alg: 'HS256' | 'ES256' | 'EdDSA', cache: boolean): Case => ({
  variant: 'fastify+latchkey',
  alg,
  cache,
});
const fastifyJWT = (alg: 'HS256' | 'ES256' | 'EdDSA'): Case => ({
  variant: 'fastify+@fastify/jwt',
  alg,
  cache: null,
});
const SEED_ES256: Case = { variant: 'express+jsonwebtoken-seed', alg: 'ES256', cache: null };
const EXPRESS_ES256_CACHED: Case = { variant: 'express+latchkey', alg: 'ES256', cache: true };

/** Every target's inputs, each measured variant at the given ratio to the reference of its target. */
function targetResults(ratios: {
  ceiling: number;
  seed: number;
  peer: number;
  express: number;
}): HttpResult[] {
  const cached = 30_000 * ratios.ceiling;
  return [
    result(FASTIFY, 30_000),
    result(EXPRESS, 10_000),
    result(fastifyLatchkey('ES256', true), cached),
    result(SEED_ES256, cached / ratios.seed),
    ...(['HS256', 'ES256', 'EdDSA'] as const).flatMap((alg) => [
      result(fastifyJWT(alg), 5_000),
      result(fastifyLatchkey(alg, false), 5_000 * ratios.peer),
    ]),
    result(EXPRESS_ES256_CACHED, 10_000 * ratios.express),
  ];
}

describe('allCases', () => {
  it('has the two ceilings and six variants per algorithm, the tutorial without EdDSA', () => {
    const cases = allCases().filter(hasCase);
    expect(cases).toHaveLength(2 + 3 * 6 - 1);
    expect(new Set(cases.map(caseKey)).size).toBe(cases.length);
    expect(cases.map(caseKey)).not.toContain('express+jsonwebtoken-seed EdDSA -');
    expect(cases.filter((c) => c.cache !== null).every((c) => c.variant.endsWith('+latchkey'))).toBe(true);
  });
});

describe('formatTable', () => {
  it('puts each variant next to its ceiling and its peer', () => {
    const table = formatTable([
      result(FASTIFY, 40_000),
      result(fastifyLatchkey('ES256', true), 36_000),
      result(fastifyJWT('ES256'), 9_000),
    ]);
    const row = table.split('\n').find((line) => /^fastify\+latchkey +ES256 +on /.test(line));
    expect(row).toMatch(/ 36\.0k +1\.23 +28 +99% +0\.90× +4\.00×$/);
    const peerRow = table.split('\n').find((line) => /^fastify\+@fastify\/jwt +ES256 /.test(line));
    expect(peerRow).toMatch(/ 9\.00k +1\.23 +111 +99% +0\.23×$/);
    expect(table).toMatch(/^fastify \(ceiling\) +40\.0k +1\.23 +25 +99%$/m);
  });

  it('marks cases without results n/a, the tutorial EdDSA row among them', () => {
    const table = formatTable([result(FASTIFY, 40_000)]);
    expect(table).toMatch(/^express\+jsonwebtoken-seed +EdDSA +n\/a$/m);
    expect(table).toMatch(/^express \(ceiling\) +n\/a$/m);
  });
});

describe('checkTargets', () => {
  it('passes every target at or above its minimum', () => {
    const checks = checkTargets(targetResults({ ceiling: 0.8, seed: 20, peer: 1.2, express: 0.8 }));
    expect(checks.map((check) => check.description)).toEqual([
      'fastify+latchkey ES256 +cache ≥ 0.8× fastify (ceiling)',
      'fastify+latchkey ES256 +cache ≥ 20.0× express+jsonwebtoken-seed ES256',
      'fastify+latchkey HS256 no cache ≥ 1.2× fastify+@fastify/jwt HS256',
      'fastify+latchkey ES256 no cache ≥ 1.2× fastify+@fastify/jwt ES256',
      'fastify+latchkey EdDSA no cache ≥ 1.2× fastify+@fastify/jwt EdDSA',
      'express+latchkey ES256 +cache ≥ 0.8× express (ceiling)',
    ]);
    expect(checks.every((check) => check.pass)).toBe(true);
    expect(checks.map((check) => check.ratio)).toEqual([
      expect.closeTo(0.8),
      expect.closeTo(20),
      expect.closeTo(1.2),
      expect.closeTo(1.2),
      expect.closeTo(1.2),
      expect.closeTo(0.8),
    ]);
  });

  it('fails each target just below its minimum', () => {
    const checks = checkTargets(targetResults({ ceiling: 0.79, seed: 19.9, peer: 1.19, express: 0.79 }));
    expect(checks).toHaveLength(6);
    expect(checks.some((check) => check.pass)).toBe(false);
  });

  it('pairs the rounds of the two cases for the quartiles', () => {
    const rounds = (c: Case): number[] | undefined => {
      if (caseKey(c) === caseKey(EXPRESS_ES256_CACHED)) return [7, 8, 9, 10, 11];
      if (caseKey(c) === caseKey(EXPRESS)) return [10, 10, 10, 10, 10];
      return undefined;
    };
    const check = checkTargets(targetResults({ ceiling: 1, seed: 30, peer: 2, express: 0.9 }), rounds).at(-1);
    expect(check?.roundQuartiles).toEqual([expect.closeTo(0.8), expect.closeTo(1.0)]);
    expect(
      checkTargets(targetResults({ ceiling: 1, seed: 30, peer: 2, express: 0.9 }))[0]?.roundQuartiles,
    ).toBe(null);
  });

  it('skips a target whose cases were not measured', () => {
    expect(checkTargets([result(FASTIFY, 1)])).toEqual([]);
  });
});

describe('formatLoadCheck', () => {
  it('says when the load generator, not the server, set a ceiling’s pace', () => {
    const text = formatLoadCheck([result(FASTIFY, 30_000, 0.5), result(EXPRESS, 10_000, 0.97)]);
    expect(text).toBe(
      [
        'load check (ceilings):',
        '  fastify: server busy 50% of its core, so the load generator set the pace; ratios to this ' +
          'ceiling read high (by up to 2.00×), compare server µs/req instead',
        '  express: server busy 97% of its core, so the server set the pace',
      ].join('\n'),
    );
    expect(formatLoadCheck([])).toBe('');
  });
});
