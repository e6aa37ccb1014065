import { describe, expect, it } from 'vitest';
import { DEFAULT_THROTTLE, Throttle } from '../../src/auth/throttle.js';
import { AuthError } from '../../src/errors.js';
import { MemoryStore } from '../../src/store/memory.js';

const T0 = 1_800_000_000_000;

async function retryAfter(run: () => Promise<unknown>): Promise<number | 'allowed'> {
  try {
    await run();
    return 'allowed';
  } catch (error) {
    if (error instanceof AuthError && error.code === 'ERR_RATE_LIMITED')
      return error.retryAfterSeconds as number;
    throw error;
  }
}

/** The throttle's decision for one login, taken as an attempt that ends at once. */
async function check(throttle: Throttle, email: string, ip: string, now: number): Promise<void> {
  (await throttle.beginLogin(email, ip, now)).end();
}

describe('Throttle', () => {
  it('counts attempts in flight against the free failures, the account cap and the IP cap', async () => {
    const throttle = new Throttle(new MemoryStore(), {
      ...DEFAULT_THROTTLE,
      accountMaxFailures: 7,
      ipMaxFailures: 9,
    });
    const pair = await Promise.all(
      Array.from({ length: 5 }, () => throttle.beginLogin('a@b.co', '1.1.1.1', T0)),
    );
    // Five in flight: a sixth from the same pair waits, even though nothing is on record yet.
    expect(await retryAfter(() => throttle.beginLogin('a@b.co', '1.1.1.1', T0))).toBe(1);
    expect(await retryAfter(() => check(throttle, 'a@b.co', '1.1.1.1', T0))).toBe(1);
    // The account cap (7) counts the five too: two more from elsewhere, then it waits.
    const elsewhere = [
      await throttle.beginLogin('a@b.co', '2.2.2.2', T0),
      await throttle.beginLogin('a@b.co', '3.3.3.3', T0),
    ];
    expect(await retryAfter(() => throttle.beginLogin('a@b.co', '4.4.4.4', T0))).toBe(1);
    // One ends as a failure: it is on record before it leaves the flight, so the pair still waits.
    const [first] = pair;
    await first?.failed(T0);
    first?.end();
    first?.end();
    expect(await retryAfter(() => throttle.beginLogin('a@b.co', '1.1.1.1', T0))).toBe(1);
    for (const attempt of [...pair, ...elsewhere]) attempt.end();
    // The IP cap (9) counts in-flight attempts on other accounts from that IP.
    const spray = await Promise.all(
      Array.from({ length: 9 }, (_, i) => throttle.beginLogin(`user${i}@b.co`, '5.5.5.5', T0)),
    );
    expect(await retryAfter(() => throttle.beginLogin('user9@b.co', '5.5.5.5', T0))).toBe(1);
    for (const attempt of spray) attempt.end();
    expect(await retryAfter(() => throttle.beginLogin('user9@b.co', '5.5.5.5', T0))).toBe('allowed');
  });

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
    expect((await store.readCounter('login:account:a@b.co', T0))?.count).toBe(5);
  });

  it('admits 20 registrations per IP per hour', async () => {
    const throttle = new Throttle(new MemoryStore());
    for (let i = 0; i < 20; i += 1) await throttle.admitRegistration('1.1.1.1', T0);
    expect(await retryAfter(() => throttle.admitRegistration('1.1.1.1', T0 + 60_000))).toBe(3540);
    expect(await retryAfter(() => throttle.admitRegistration('2.2.2.2', T0))).toBe('allowed');
    expect(await retryAfter(() => throttle.admitRegistration('1.1.1.1', T0 + 3_600_000))).toBe('allowed');
  });
});
