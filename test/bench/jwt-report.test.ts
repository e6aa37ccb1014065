import { describe, expect, it } from 'vitest';
import type { BenchAlg } from '../../bench/jwt-contenders.js';
import { formatCalibration, type Result } from '../../bench/jwt-report.js';

/** fast-jwt and floor verify results whose ratio is `ratios[alg]`. */
function results(ratios: Partial<Record<BenchAlg, number>>): Result[] {
  return Object.entries(ratios).flatMap(([alg, ratio]) => [
    { alg: alg as BenchAlg, op: 'verify' as const, impl: 'fast-jwt' as const, opsPerSec: ratio * 10_000 },
    { alg: alg as BenchAlg, op: 'verify' as const, impl: 'floor' as const, opsPerSec: 10_000 },
  ]);
}

describe('formatCalibration', () => {
  it('says the floor ratios compare when fast-jwt reads as it did when the targets were set', () => {
    expect(formatCalibration(results({ HS256: 0.41, RS256: 0.84, ES256: 0.95, EdDSA: 0.94 }))).toBe(
      'machine check: fast-jwt verify ÷ floor here is HS256 0.41× (0.39× when the targets were set), ' +
        'RS256 0.84× (0.83× when the targets were set), ES256 0.95× (0.95× when the targets were set), ' +
        'EdDSA 0.94× (0.93× when the targets were set); within 8%, so ratios to the floor on this machine ' +
        'compare with the targets',
    );
  });

  it('warns when one algorithm is more than 8% off', () => {
    expect(formatCalibration(results({ HS256: 0.39, RS256: 0.68, ES256: 0.95, EdDSA: 0.93 }))).toMatch(
      /; more than 8% off, so ratios to the floor on this machine do not compare with the targets$/,
    );
    expect(formatCalibration(results({ RS256: 0.83 * 1.09 }))).toMatch(/more than 8% off/);
    expect(formatCalibration(results({ RS256: 0.83 * 1.07 }))).toMatch(/within 8%/);
  });

  it('prints nothing without fast-jwt and floor figures', () => {
    expect(formatCalibration([])).toBe('');
    expect(formatCalibration(results({ PS256: 0.5 }))).toBe('');
  });
});
