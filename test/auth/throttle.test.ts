import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalAttemptsInFlight } from '../../src/auth/local-attempts-in-flight.js';
import { DEFAULT_THROTTLE, Throttle } from '../../src/auth/throttle.js';
import { CounterAttemptsInFlight } from '../../src/store/counter-attempts-in-flight.js';
import { MemoryStore } from '../../src/store/memory.js';
import { openSQLiteStore } from '../../src/store/sql/sqlite.js';
import type { CounterStore } from '../../src/store/types.js';
import { readCounter, recordFailure } from '../support/counters.js';
import { describeInFlightThrottle, retryAfter } from './in-flight-cases.js';

const T0 = 1_800_000_000_000;

/** The throttle's decision for one login, taken as an attempt that ends at once. */
async function check(throttle: Throttle, email: string, ip: string, now: number): Promise<void> {
  await (await throttle.beginLogin(email, ip, now)).end();
}

/** `store`'s counters, each batch read through `readCounters` instead (to stall or break a read). */
function readingThrough(store: CounterStore, readCounters: CounterStore['readCounters']): CounterStore {
  return {
    recordFailures: (failures, now) => store.recordFailures(failures, now),
    clearCounter: (key) => store.clearCounter(key),
    deleteExpiredCounters: (before) => store.deleteExpiredCounters(before),
    readCounters,
  };
}

describeInFlightThrottle('this process', async () => ({
  counters: new MemoryStore(),
  inFlight: new LocalAttemptsInFlight(),
}));
describeInFlightThrottle('the store counters', async () => {
  const counters = new MemoryStore();
  return { counters, inFlight: new CounterAttemptsInFlight(counters) };
});

describe('Throttle', () => {
  it('lets 5 failures of an account+IP pass, then backs off, doubling', async () => {
    const throttle = new Throttle(new MemoryStore());
    for (let i = 0; i < 5; i += 1) {
      expect(await retryAfter(() => check(throttle, 'a@b.co', '1.1.1.1', T0))).toBe('allowed');
      await throttle.recordLoginFailure('a@b.co', '1.1.1.1', T0);
    }
    expect(await retryAfter(() => check(throttle, 'a@b.co', '1.1.1.1', T0))).toBe(15);
    expect(await retryAfter(() => check(throttle, 'a@b.co', '1.1.1.1', T0 + 15_000))).toBe('allowed');
    await throttle.recordLoginFailure('a@b.co', '1.1.1.1', T0 + 15_000);
    expect(await retryAfter(() => check(throttle, 'a@b.co', '1.1.1.1', T0 + 15_000))).toBe(30);
  });

  it('never blocks the same account from another IP below the account cap', async () => {
    const throttle = new Throttle(new MemoryStore());
    for (let i = 0; i < 50; i += 1) await throttle.recordLoginFailure('a@b.co', '6.6.6.6', T0);
    expect(await retryAfter(() => check(throttle, 'a@b.co', '6.6.6.6', T0))).not.toBe('allowed');
    expect(await retryAfter(() => check(throttle, 'a@b.co', '1.1.1.1', T0))).toBe('allowed');
  });

  it('caps failures per account across IPs until the window ends', async () => {
    const throttle = new Throttle(new MemoryStore(), { ...DEFAULT_THROTTLE, accountMaxFailures: 3 });
    for (const ip of ['1.0.0.1', '1.0.0.2', '1.0.0.3']) await throttle.recordLoginFailure('a@b.co', ip, T0);
    expect(await retryAfter(() => check(throttle, 'a@b.co', '9.9.9.9', T0 + 1000))).toBe(3599);
    expect(await retryAfter(() => check(throttle, 'other@b.co', '9.9.9.9', T0 + 1000))).toBe('allowed');
    expect(await retryAfter(() => check(throttle, 'a@b.co', '9.9.9.9', T0 + 3_600_000))).toBe('allowed');
  });

  it('caps failures per IP across accounts', async () => {
    const throttle = new Throttle(new MemoryStore(), { ...DEFAULT_THROTTLE, ipMaxFailures: 3 });
    for (const email of ['a@b.co', 'c@b.co', 'd@b.co'])
      await throttle.recordLoginFailure(email, '6.6.6.6', T0);
    expect(await retryAfter(() => check(throttle, 'new@b.co', '6.6.6.6', T0))).toBe(3600);
    expect(await retryAfter(() => check(throttle, 'new@b.co', '1.1.1.1', T0))).toBe('allowed');
  });

  it('forgives a pair after a success but keeps the account count', async () => {
    const store = new MemoryStore();
    const throttle = new Throttle(store);
    for (let i = 0; i < 5; i += 1) await throttle.recordLoginFailure('a@b.co', '1.1.1.1', T0);
    await throttle.recordLoginSuccess('a@b.co', '1.1.1.1');
    expect(await retryAfter(() => check(throttle, 'a@b.co', '1.1.1.1', T0))).toBe('allowed');
    expect((await readCounter(store, 'login:account:a@b.co', T0))?.count).toBe(5);
  });

  it('writes nothing on a success when the pair had no failures, and forgives one that had', async () => {
    const store = new MemoryStore();
    const cleared: string[] = [];
    const clearCounter = store.clearCounter.bind(store);
    store.clearCounter = async (key) => {
      cleared.push(key);
      await clearCounter(key);
    };
    const throttle = new Throttle(store);
    const clean = await throttle.beginLogin('a@b.co', '1.1.1.1', T0);
    await clean.succeeded();
    await clean.end();
    expect(cleared).toEqual([]);
    await throttle.recordLoginFailure('a@b.co', '1.1.1.1', T0);
    const forgiven = await throttle.beginLogin('a@b.co', '1.1.1.1', T0);
    await forgiven.succeeded();
    await forgiven.end();
    expect(cleared).toEqual(['login:pair:a@b.co|1.1.1.1']);
    expect(await readCounter(store, 'login:pair:a@b.co|1.1.1.1', T0)).toBeNull();
  });

  it('counts a failure that landed while an attempt was deciding (a burst spread over instances)', async () => {
    const store = new MemoryStore();
    // Four failures: one free attempt is left for this pair.
    for (let i = 0; i < 4; i += 1) await recordFailure(store, 'login:pair:a@b.co|1.1.1.1', 900_000, T0);
    let held: Promise<void> | null = null;
    const slow = readingThrough(store, async (keys, now) => {
      const counters = await store.readCounters(keys, now);
      const hold = held;
      if (hold !== null) await hold;
      return counters;
    });
    const throttle = new Throttle(slow);
    let open = () => {};
    held = new Promise((resolve) => {
      open = resolve;
    });
    // B reads the four failures, then stalls before counting itself in flight.
    const late = throttle.beginLogin('a@b.co', '1.1.1.1', T0).then(
      (attempt) => attempt,
      (error: unknown) => error,
    );
    await new Promise((resolve) => setImmediate(resolve));
    held = null;
    // A takes the last free attempt, fails, and ends: its failure is stored before it leaves flight.
    const first = await throttle.beginLogin('a@b.co', '1.1.1.1', T0);
    await first.failed(T0);
    await first.end();
    open();
    // B must not get a sixth password check on the four failures it read.
    expect(await late).toMatchObject({ code: 'ERR_RATE_LIMITED' });
  });

  it('leaves nothing in flight when the store fails while an attempt decides', async () => {
    const store = new MemoryStore();
    let reads = 0;
    let failFrom = Number.POSITIVE_INFINITY;
    const flaky = readingThrough(store, async (keys, now) => {
      reads += 1;
      if (reads > failFrom) throw new Error('store down');
      return store.readCounters(keys, now);
    });
    // Past the free failures only one attempt may be in flight: a leaked one would block the pair.
    for (let i = 0; i < 5; i += 1) await recordFailure(store, 'login:pair:a@b.co|1.1.1.1', 900_000, T0);
    const throttle = new Throttle(flaky);
    const afterBackoff = T0 + 15_000;
    // The first read (the three counters) passes; the read after admission fails.
    failFrom = 1;
    await expect(throttle.beginLogin('a@b.co', '1.1.1.1', afterBackoff)).rejects.toThrow('store down');
    failFrom = Number.POSITIVE_INFINITY;
    const attempt = await throttle.beginLogin('a@b.co', '1.1.1.1', afterBackoff);
    await attempt.end();
  });

  it('admits 20 registrations per IP per hour', async () => {
    const throttle = new Throttle(new MemoryStore());
    for (let i = 0; i < 20; i += 1) await throttle.admitRegistration('1.1.1.1', T0);
    expect(await retryAfter(() => throttle.admitRegistration('1.1.1.1', T0 + 60_000))).toBe(3540);
    expect(await retryAfter(() => throttle.admitRegistration('2.2.2.2', T0))).toBe('allowed');
    expect(await retryAfter(() => throttle.admitRegistration('1.1.1.1', T0 + 3_600_000))).toBe('allowed');
  });
});

describe('Registrations sent at once', () => {
  const outcomes = async (throttle: Throttle, count: number) =>
    Promise.all(
      Array.from({ length: count }, () => retryAfter(() => throttle.admitRegistration('1.1.1.1', T0))),
    );

  it('admit no more than the cap, in memory', async () => {
    const results = await outcomes(new Throttle(new MemoryStore()), 30);
    expect(results.filter((result) => result === 'allowed')).toHaveLength(20);
    expect(results.filter((result) => result === 3600)).toHaveLength(10);
  });

  it('admit no more than the cap, on SQLite', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'latchkey-throttle-'));
    const store = await openSQLiteStore(join(directory, 'throttle.sqlite'));
    try {
      const results = await outcomes(new Throttle(store), 30);
      expect(results.filter((result) => result === 'allowed')).toHaveLength(20);
      // Once the cap is on record, a refused attempt writes nothing: the count stays where it was.
      const counted = async () => (await readCounter(store, 'register:ip:1.1.1.1', T0))?.count;
      const after = await counted();
      expect(after).toBeGreaterThanOrEqual(20);
      expect(await retryAfter(() => new Throttle(store).admitRegistration('1.1.1.1', T0 + 1000))).toBe(3599);
      expect(await counted()).toBe(after);
    } finally {
      await store.close();
      await rm(directory, { recursive: true, force: true });
    }
  });
});

describe('Logins in flight in the store counters', () => {
  it('forgets an attempt that never ended (its instance died) within 30 s', async () => {
    const counters = new MemoryStore();
    const inFlight = new CounterAttemptsInFlight(counters);
    const limit = [{ key: 'k', limit: 1 }];
    expect(await inFlight.admit(limit, T0)).not.toBeNull();
    expect(await inFlight.admit(limit, T0 + 1000)).toBeNull();
    expect(await inFlight.admit(limit, T0 + 29_999)).toBeNull();
    expect(await inFlight.admit(limit, T0 + 30_000)).not.toBeNull();
  });

  it('refuses an attempt past the limit when another starts and ends while it decides', async () => {
    const counters = new MemoryStore();
    const limit = [{ key: 'k', limit: 1 }];
    // One attempt in flight: the only place there is.
    expect(await new CounterAttemptsInFlight(counters).admit(limit, T0)).not.toBeNull();
    // Another reads the count only once a third has come and gone meanwhile (on another instance,
    // say): that one's end must not be taken for the end of one this attempt counted.
    let open = () => {};
    const opened = new Promise<void>((resolve) => {
      open = resolve;
    });
    const slow = new CounterAttemptsInFlight(
      readingThrough(counters, async (keys, now) => {
        await opened;
        return counters.readCounters(keys, now);
      }),
    );
    const deciding = slow.admit(limit, T0);
    expect(await new CounterAttemptsInFlight(counters).admit(limit, T0)).toBeNull();
    open();
    expect(await deciding).toBeNull();
  });

  it('sees attempts counted by an instance whose clock is a little ahead or behind', async () => {
    const counters = new MemoryStore();
    const ahead = new CounterAttemptsInFlight(counters);
    const behind = new CounterAttemptsInFlight(counters);
    const limit = [{ key: 'k', limit: 1 }];
    const release = await ahead.admit(limit, T0 + 15_000);
    expect(await behind.admit(limit, T0 + 14_000)).toBeNull();
    await release?.();
    expect(await behind.admit(limit, T0 + 14_000)).not.toBeNull();
  });
});
