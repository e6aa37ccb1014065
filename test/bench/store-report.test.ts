import { describe, expect, it } from 'vitest';
import {
  allVariants,
  checkTargets,
  formatTable,
  rawOf,
  type StoreResult,
  toJSON,
  variantKey,
} from '../../bench/store-report.js';

/** Every variant at `perSec` 100, PostgreSQL's raw commits at 1000. */
function results(postgresRefresh: number): StoreResult[] {
  return allVariants().map((variant) => {
    let perSec = 100;
    if (variant.impl === 'raw' && variant.store === 'postgres') perSec = 1000;
    if (variant.impl === 'latchkey' && variant.store === 'postgres' && variant.op === 'refresh')
      perSec = postgresRefresh;
    return { ...variant, perSec, p99Ms: 5 };
  });
}

describe('bench:store report', () => {
  it('sets each Latchkey variant beside its raw rate: commits for refresh, argon2id for login', () => {
    expect(rawOf({ store: 'postgres', workers: 2, op: 'refresh', impl: 'latchkey' })).toEqual({
      store: 'postgres',
      workers: null,
      op: 'refresh',
      impl: 'raw',
    });
    expect(rawOf({ store: 'sqlite', workers: 2, op: 'login', impl: 'latchkey' })).toEqual({
      store: null,
      workers: 2,
      op: 'login',
      impl: 'raw',
    });
    // 8 Latchkey variants, 2 raw commit rates, 2 argon2id rates (1 and 2 workers' concurrency).
    expect(allVariants()).toHaveLength(12);
    expect(new Set(allVariants().map(variantKey)).size).toBe(12);
  });

  it('judges the PostgreSQL refresh target for 1 and 2 workers', () => {
    const failing = checkTargets(results(400));
    expect(failing.map((check) => [check.ratio, check.pass])).toEqual([
      [0.4, false],
      [0.4, false],
    ]);
    expect(checkTargets(results(500)).every((check) => check.pass)).toBe(true);
  });

  it('prints one row per Latchkey variant with its ratio, and the target on PostgreSQL refreshes', () => {
    const table = formatTable(results(400)).split('\n');
    expect(table).toHaveLength(2 + 8);
    expect(table.find((line) => /^refresh +postgres +1 /.test(line))).toMatch(/0\.40× +≥ 0\.5×$/);
    expect(table.find((line) => /^login +sqlite +2 /.test(line))).toMatch(/1\.00×$/);
  });

  it('writes store, workers, op, impl, perSec and p99Ms, in table order', () => {
    const written = toJSON([...results(400)].reverse()).results;
    expect(written.map(variantKey)).toEqual(allVariants().map(variantKey));
    expect(written[0]).toEqual({
      store: 'sqlite',
      workers: 1,
      op: 'refresh',
      impl: 'latchkey',
      perSec: 100,
      p99Ms: 5,
    });
  });
});
