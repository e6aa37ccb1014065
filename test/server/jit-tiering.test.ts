import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { interruptBudgetFlag, SERVER_INTERRUPT_BUDGET } from '../../src/server/jit-tiering.js';
import { ROOT } from '../support/server-process.js';

const NODE_20_V8 = '11.3.244.8-node.38';
const NODE_22_V8 = '12.4.254.21-node.33';
/** Whether this process's V8 is one that has the flag, so that the process-level tests below apply. */
const tunable = interruptBudgetFlag([], process.versions.v8) !== null;

describe('interruptBudgetFlag', () => {
  it('lowers the budget for a server started with no V8 flags of its own', () => {
    expect(interruptBudgetFlag([], NODE_20_V8)).toBe(`--interrupt-budget=${SERVER_INTERRUPT_BUDGET}`);
    expect(interruptBudgetFlag(['--enable-source-maps', '--max-old-space-size=512'], NODE_20_V8)).toBe(
      `--interrupt-budget=${SERVER_INTERRUPT_BUDGET}`,
    );
  });

  it("keeps an operator's own budget, however it is spelled", () => {
    for (const arg of ['--interrupt-budget=100000', '--interrupt_budget=100000', '--interrupt-budget']) {
      expect(interruptBudgetFlag(['--enable-source-maps', arg], NODE_20_V8)).toBeNull();
    }
  });

  it('is not fooled by flags that only start alike', () => {
    expect(interruptBudgetFlag(['--interrupt-budget-for-feedback-allocation=100'], NODE_20_V8)).toBe(
      `--interrupt-budget=${SERVER_INTERRUPT_BUDGET}`,
    );
  });

  it('leaves a V8 without the flag (Node 22 on) alone', () => {
    expect(interruptBudgetFlag([], NODE_22_V8)).toBeNull();
  });

  it('knows whether the V8 of the Node running the tests has the flag', () => {
    // Node 20, which CI runs, has it: the process-level tests below run there.
    const major = process.versions.node.split('.')[0] as string;
    expect(tunable).toBe(['20', '21'].includes(major));
  });
});

/**
 * How many calls V8 makes of a small function before TurboFan has optimized it, in a fresh process
 * (compilation on the main thread, so the count is exact), after the compiled `tierUpServerCode()`
 * when `tune` is set.
 */
function callsUntilOptimized(
  tune: boolean,
  nodeFlags: readonly string[] = [],
): { calls: number; stderr: string } {
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
  const child = spawnSync(
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
  if (child.status !== 0) throw new Error(`node exited with ${String(child.status)}: ${child.stderr}`);
  return { calls: Number(child.stdout.trim()), stderr: child.stderr };
}

describe('tierUpServerCode', () => {
  it('says nothing on stderr, where V8 would print an unknown flag', () => {
    expect(callsUntilOptimized(true).stderr).toBe('');
  });
});

describe.runIf(tunable)('tierUpServerCode where V8 has an interrupt budget', () => {
  it('makes V8 optimize a function after fewer calls than its default', () => {
    const atDefault = callsUntilOptimized(false);
    const tuned = callsUntilOptimized(true);
    expect(atDefault.calls).toBeLessThan(1e6);
    expect(tuned.calls).toBeLessThan(atDefault.calls * 0.7);
  });

  it('leaves the budget alone when node was started with one', () => {
    const given = ['--interrupt-budget=67584'];
    expect(callsUntilOptimized(true, given).calls).toBe(callsUntilOptimized(false, given).calls);
  });
});
