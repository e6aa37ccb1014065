import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { interruptBudgetFlag, SERVER_INTERRUPT_BUDGET } from '../../src/server/jit-tiering.js';
import { ROOT } from '../support/server-process.js';

describe('interruptBudgetFlag', () => {
  it('lowers the budget for a server started with no V8 flags of its own', () => {
    expect(interruptBudgetFlag([])).toBe(`--interrupt-budget=${SERVER_INTERRUPT_BUDGET}`);
    expect(interruptBudgetFlag(['--enable-source-maps', '--max-old-space-size=512'])).toBe(
      `--interrupt-budget=${SERVER_INTERRUPT_BUDGET}`,
    );
  });

  it("keeps an operator's own budget, however it is spelled", () => {
    for (const arg of ['--interrupt-budget=100000', '--interrupt_budget=100000', '--interrupt-budget']) {
      expect(interruptBudgetFlag(['--enable-source-maps', arg])).toBeNull();
    }
  });

  it('is not fooled by flags that only start alike', () => {
    expect(interruptBudgetFlag(['--interrupt-budget-for-feedback-allocation=100'])).toBe(
      `--interrupt-budget=${SERVER_INTERRUPT_BUDGET}`,
    );
  });
});

/**
 * How many calls V8 makes of a small function before TurboFan has optimized it, in a fresh process
 * (compilation on the main thread, so the count is exact), after the compiled `tierUpServerCode()`
 * when `tune` is set.
 */
function callsUntilOptimized(tune: boolean, nodeFlags: readonly string[] = []): number {
  const module = join(ROOT, 'dist', 'server', 'jit-tiering.js');
  const script = `
    const { tierUpServerCode } = await import(${JSON.stringify(module)});
    if (${tune}) tierUpServerCode();
    function work(o) { let s = 0; for (const k in o) s += o[k].length; return s + JSON.stringify(o).length; }
    const input = { a: 'xxxxxxxxxx', b: 'yy', c: 'zzz' };
    let calls = 0;
    // Bit 16 of the status: TurboFan code.
    for (; calls < 1e6 && (%GetOptimizationStatus(work) & 16) === 0; calls++) work(input);
    console.log(calls);`;
  const output = execFileSync(
    process.execPath,
    [
      '--allow-natives-syntax',
      '--no-concurrent-recompilation',
      ...nodeFlags,
      '--input-type=module',
      '-e',
      script,
    ],
    { encoding: 'utf8' },
  );
  return Number(output.trim());
}

describe('tierUpServerCode', () => {
  it('makes V8 optimize a function after fewer calls than its default', () => {
    const atDefault = callsUntilOptimized(false);
    const tuned = callsUntilOptimized(true);
    expect(atDefault).toBeLessThan(1e6);
    expect(tuned).toBeLessThan(atDefault * 0.7);
  });

  it('leaves the budget alone when node was started with one', () => {
    const given = ['--interrupt-budget=67584'];
    expect(callsUntilOptimized(true, given)).toBe(callsUntilOptimized(false, given));
  });
});
