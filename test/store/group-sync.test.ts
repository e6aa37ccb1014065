import { describe, expect, it } from 'vitest';
import { GroupSync } from '../../src/store/sql/group-sync.js';

/** A flush that ends when the test says so, counting how many began. */
function gatedFlush() {
  const gates: Array<{ open: () => void; fail: (error: Error) => void }> = [];
  const flush = () =>
    new Promise<void>((resolve, reject) => {
      gates.push({ open: resolve, fail: reject });
    });
  return { flush, gates };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('GroupSync', () => {
  it('flushes at once when no flush is under way', async () => {
    const { flush, gates } = gatedFlush();
    const sync = new GroupSync(flush);
    let done = false;
    const waiting = sync.sync().then(() => {
      done = true;
    });
    expect(gates).toHaveLength(1);
    await settle();
    expect(done).toBe(false);
    gates[0]?.open();
    await waiting;
    expect(done).toBe(true);
  });

  it('makes every caller during a flush wait for the next one, which they share', async () => {
    const { flush, gates } = gatedFlush();
    const sync = new GroupSync(flush);
    const first = sync.sync();
    // These commits came after the first flush began: it may not hold them.
    const resolved: number[] = [];
    const later = [1, 2, 3, 4, 5].map((n) => sync.sync().then(() => resolved.push(n)));
    expect(gates).toHaveLength(1);
    gates[0]?.open();
    await first;
    await settle();
    expect(resolved).toEqual([]);
    expect(gates).toHaveLength(2);
    gates[1]?.open();
    await Promise.all(later);
    expect(resolved).toEqual([1, 2, 3, 4, 5]);
    expect(gates).toHaveLength(2);
  });

  it('tells the callers of a failed flush, and flushes anew for the next', async () => {
    const { flush, gates } = gatedFlush();
    const sync = new GroupSync(flush);
    const first = sync.sync();
    const second = sync.sync();
    gates[0]?.fail(new Error('EIO'));
    await expect(first).rejects.toThrow('EIO');
    await settle();
    // The waiters of the next flush are not failed by the one before it.
    gates[1]?.open();
    await expect(second).resolves.toBeUndefined();
    const third = sync.sync();
    expect(gates).toHaveLength(3);
    gates[2]?.open();
    await expect(third).resolves.toBeUndefined();
  });

  it('settles once no flush is under way or queued', async () => {
    const { flush, gates } = gatedFlush();
    const sync = new GroupSync(flush);
    void sync.sync();
    void sync.sync();
    let settled = false;
    const waiting = sync.settled().then(() => {
      settled = true;
    });
    gates[0]?.open();
    await settle();
    expect(settled).toBe(false);
    gates[1]?.open();
    await waiting;
    expect(settled).toBe(true);
  });
});
