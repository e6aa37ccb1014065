/**
 * Logins in flight counted in the store's atomic counters, so that instances sharing PostgreSQL (and
 * no Redis) share one limit even under a burst sent to all of them at once.
 *
 * The counters only grow, so an attempt is two counts: one when it starts, one when it ends. Both go
 * to counters of the time bucket it started in, so the two always share a window; what is in flight
 * under a key is started − ended over the buckets around now. An instance that dies mid-attempt never
 * counts its end: its attempts drop out of sight once their bucket is no longer read, 15–30 s later.
 *
 * Atomic enough: each attempt first counts itself, then reads the others. Of two attempts at once, the
 * later increment sees the earlier one, so no two can both see room for only one. Reading the
 * buckets on both sides of its own keeps that true between instances whose clocks differ by less
 * than a bucket. The ends are read before the attempt counts itself: an end read later could be that
 * of an attempt that started after its own count was taken, and subtracting it would hide one still
 * in flight.
 */

import {
  type AttemptsInFlight,
  type InFlightLimit,
  type ReleaseAttempt,
  releaseOnce,
} from './attempts-in-flight.js';
import type { CounterStore } from './types.js';

const BUCKET_MS = 15_000;
/** Longer than any bucket is read (its own, and one either side), so no counter restarts meanwhile. */
const WINDOW_MS = 4 * BUCKET_MS;

const started = (bucket: number, key: string) => `inflight:${bucket}:started:${key}`;
const ended = (bucket: number, key: string) => `inflight:${bucket}:ended:${key}`;

export interface CounterAttemptsInFlightOptions {
  /** Told when an attempt's end could not be counted (it then drops out of sight within 30 s). */
  onReleaseError?: (error: unknown) => void;
}

export class CounterAttemptsInFlight implements AttemptsInFlight {
  readonly #counters: CounterStore;
  readonly #onReleaseError: (error: unknown) => void;

  constructor(counters: CounterStore, options: CounterAttemptsInFlightOptions = {}) {
    this.#counters = counters;
    this.#onReleaseError = options.onReleaseError ?? (() => {});
  }

  async admit(limits: readonly InFlightLimit[], now: number): Promise<ReleaseAttempt | null> {
    const bucket = Math.floor(now / BUCKET_MS);
    // Ends first: each end read here is of an attempt whose start is on record already, so the starts
    // counted next include it.
    const ends = sums(
      await this.#counts(
        limits.flatMap(({ key }) => [bucket - 1, bucket, bucket + 1].map((b) => ended(b, key))),
        now,
      ),
      3,
    );
    const counted = (name: (bucket: number, key: string) => string) =>
      limits.map(({ key }) => ({ key: name(bucket, key), windowMs: WINDOW_MS }));
    const own = await this.#counters.recordFailures(counted(started), now);
    const release = releaseOnce(() =>
      this.#counters.recordFailures(counted(ended), now).then(() => {}, this.#onReleaseError),
    );
    try {
      const others = sums(
        await this.#counts(
          limits.flatMap(({ key }) => [started(bucket - 1, key), started(bucket + 1, key)]),
          now,
        ),
        2,
      );
      const flying = limits.map((_, i) => (own[i]?.count ?? 0) + (others[i] ?? 0) - (ends[i] ?? 0));
      if (limits.every(({ limit }, i) => (flying[i] ?? 0) <= limit)) return release;
    } catch (error) {
      await release();
      throw error;
    }
    await release();
    return null;
  }

  /** The counts under `keys`, in one read. */
  async #counts(keys: readonly string[], now: number): Promise<number[]> {
    return (await this.#counters.readCounters(keys, now)).map((counter) => counter?.count ?? 0);
  }
}

/** The sums of each run of `size` numbers: [1, 2, 3, 4] in runs of 2 is [3, 7]. */
function sums(numbers: readonly number[], size: number): number[] {
  return Array.from({ length: numbers.length / size }, (_, i) =>
    numbers.slice(i * size, (i + 1) * size).reduce((sum, n) => sum + n, 0),
  );
}
