/**
 * The throttle's rules for logins in flight, run over every `AttemptsInFlight` (this process, the
 * store's counters, Redis): each must give the same answers.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_THROTTLE, Throttle } from '../../src/auth/throttle.js';
import { AuthError } from '../../src/errors.js';
import type { AttemptsInFlight } from '../../src/store/attempts-in-flight.js';
import type { CounterStore } from '../../src/store/types.js';

const T0 = 1_800_000_000_000;

export async function retryAfter(run: () => Promise<unknown>): Promise<number | 'allowed'> {
  try {
    await run();
    return 'allowed';
  } catch (error) {
    if (error instanceof AuthError && error.code === 'ERR_RATE_LIMITED')
      return error.retryAfterSeconds as number;
    throw error;
  }
}

export interface InFlightParts {
  counters: CounterStore;
  inFlight: AttemptsInFlight;
  close?: () => Promise<void>;
}

export function describeInFlightThrottle(name: string, open: () => Promise<InFlightParts>): void {
  describe(`Throttle with logins in flight counted in ${name}`, () => {
    it('counts attempts in flight against the free failures, the account cap and the IP cap', async () => {
      const parts = await open();
      try {
        const throttle = new Throttle(
          parts.counters,
          { ...DEFAULT_THROTTLE, accountMaxFailures: 7, ipMaxFailures: 9 },
          parts.inFlight,
        );
        const pair = await Promise.all(
          Array.from({ length: 5 }, () => throttle.beginLogin('a@b.co', '1.1.1.1', T0)),
        );
        // Five in flight: a sixth from the same pair waits, even though nothing is on record yet.
        expect(await retryAfter(() => throttle.beginLogin('a@b.co', '1.1.1.1', T0))).toBe(1);
        // The account cap (7) counts the five too: two more from elsewhere, then it waits.
        const elsewhere = [
          await throttle.beginLogin('a@b.co', '2.2.2.2', T0),
          await throttle.beginLogin('a@b.co', '3.3.3.3', T0),
        ];
        expect(await retryAfter(() => throttle.beginLogin('a@b.co', '4.4.4.4', T0))).toBe(1);
        // One ends as a failure: it is on record before it leaves the flight, so the pair still waits.
        const [first] = pair;
        await first?.failed(T0);
        await first?.end();
        await first?.end();
        expect(await retryAfter(() => throttle.beginLogin('a@b.co', '1.1.1.1', T0))).toBe(1);
        await Promise.all([...pair, ...elsewhere].map((attempt) => attempt.end()));
        // The IP cap (9) counts in-flight attempts on other accounts from that IP.
        const spray = await Promise.all(
          Array.from({ length: 9 }, (_, i) => throttle.beginLogin(`user${i}@b.co`, '5.5.5.5', T0)),
        );
        expect(await retryAfter(() => throttle.beginLogin('user9@b.co', '5.5.5.5', T0))).toBe(1);
        await Promise.all(spray.map((attempt) => attempt.end()));
        const last = await throttle.beginLogin('user9@b.co', '5.5.5.5', T0);
        await last.end();
      } finally {
        await parts.close?.();
      }
    });

    it('holds one address to its own share of the checks in flight, whatever accounts it names', async () => {
      const parts = await open();
      try {
        const throttle = new Throttle(
          parts.counters,
          { ...DEFAULT_THROTTLE, ipMaxInFlight: 4 },
          parts.inFlight,
        );
        const spray = await Promise.all(
          Array.from({ length: 4 }, (_, i) => throttle.beginLogin(`spray${i}@b.co`, '6.6.6.6', T0)),
        );
        // Nothing on record, hundreds of failures left: still only four at once from there.
        expect(await retryAfter(() => throttle.beginLogin('spray4@b.co', '6.6.6.6', T0))).toBe(1);
        // Another address is not held back by it.
        const other = await throttle.beginLogin('spray4@b.co', '8.8.8.8', T0);
        await other.end();
        await spray[0]?.end();
        const next = await throttle.beginLogin('spray4@b.co', '6.6.6.6', T0);
        await Promise.all([next, ...spray].map((attempt) => attempt.end()));
      } finally {
        await parts.close?.();
      }
    });

    it('admits no more than the limit of a burst sent at once', async () => {
      const parts = await open();
      try {
        const throttle = new Throttle(parts.counters, DEFAULT_THROTTLE, parts.inFlight);
        const results = await Promise.allSettled(
          Array.from({ length: 40 }, () => throttle.beginLogin('burst@b.co', '7.7.7.7', T0)),
        );
        const admitted = results.filter((result) => result.status === 'fulfilled');
        expect(admitted).toHaveLength(DEFAULT_THROTTLE.pairFreeFailures);
        for (const result of results) {
          if (result.status === 'rejected') expect(result.reason).toMatchObject({ code: 'ERR_RATE_LIMITED' });
        }
        await Promise.all(admitted.map((result) => result.value.end()));
        // All ended: the next one passes.
        await (await throttle.beginLogin('burst@b.co', '7.7.7.7', T0)).end();
      } finally {
        await parts.close?.();
      }
    });
  });
}
