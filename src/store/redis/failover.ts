/**
 * Counters and logins in flight that use Redis while it answers and the store while it does not, so
 * that losing Redis never opens the limits. Failures are rare, so each is written to the store as
 * well: the store always holds every failure. Reads (one per limit on every login) go to Redis while
 * it is up, to the store while it is away, and to both for one window after it is back, taking the
 * larger, since Redis missed what was counted while it was away.
 */
import type { AttemptsInFlight, InFlightLimit, ReleaseAttempt } from '../attempts-in-flight.js';
import type { CounterFailure, CounterState, CounterStore } from '../types.js';
import type { RedisConnection } from './connection.js';

function larger(a: CounterState | null, b: CounterState | null): CounterState | null {
  if (a === null) return b;
  if (b === null) return a;
  return b.count > a.count ? b : a;
}

export class FailoverCounterStore implements CounterStore {
  readonly #redis: RedisConnection;
  readonly #fast: CounterStore;
  readonly #store: CounterStore;
  readonly #recoveryMs: number;

  /** `recoveryMs`: the longest window of any counter, for which reads look at both after Redis returns. */
  constructor(redis: RedisConnection, fast: CounterStore, store: CounterStore, recoveryMs: number) {
    this.#redis = redis;
    this.#fast = fast;
    this.#store = store;
    this.#recoveryMs = recoveryMs;
  }

  async recordFailures(failures: readonly CounterFailure[], now: number): Promise<CounterState[]> {
    const [stored, fast] = await Promise.all([
      this.#store.recordFailures(failures, now),
      this.#redis.available ? this.#fast.recordFailures(failures, now).catch(() => null) : null,
    ]);
    return stored.map((counter, i) => larger(counter, fast?.[i] ?? null) ?? counter);
  }

  async readCounters(keys: readonly string[], now: number): Promise<(CounterState | null)[]> {
    if (!this.#redis.available) return this.#store.readCounters(keys, now);
    let fast: (CounterState | null)[];
    try {
      fast = await this.#fast.readCounters(keys, now);
    } catch {
      return this.#store.readCounters(keys, now);
    }
    const returnedAt = this.#redis.returnedAt;
    if (returnedAt !== null && now - returnedAt < this.#recoveryMs) {
      const stored = await this.#store.readCounters(keys, now);
      return fast.map((counter, i) => larger(counter, stored[i] ?? null));
    }
    return fast;
  }

  /**
   * Both; a Redis that is away keeps its copy, which after its return can only make the limit
   * stricter than it should be until that counter's window ends, never looser.
   */
  async clearCounter(key: string): Promise<void> {
    await Promise.all([
      this.#store.clearCounter(key),
      this.#redis.available ? this.#fast.clearCounter(key).catch(() => {}) : null,
    ]);
  }

  /** The store's: Redis forgets its counters by itself. */
  deleteExpiredCounters(before: number): Promise<number> {
    return this.#store.deleteExpiredCounters(before);
  }
}

/**
 * Attempts in flight in Redis while it answers, otherwise in `fallback` (the store's counters on
 * PostgreSQL, this process on SQLite). Each attempt is released where it was admitted.
 */
export class FailoverAttemptsInFlight implements AttemptsInFlight {
  readonly #redis: RedisConnection;
  readonly #fast: AttemptsInFlight;
  readonly #fallback: AttemptsInFlight;

  constructor(redis: RedisConnection, fast: AttemptsInFlight, fallback: AttemptsInFlight) {
    this.#redis = redis;
    this.#fast = fast;
    this.#fallback = fallback;
  }

  async admit(limits: readonly InFlightLimit[], now: number): Promise<ReleaseAttempt | null> {
    if (this.#redis.available) {
      try {
        return await this.#fast.admit(limits, now);
      } catch {
        // Counted as a Redis failure by the connection; decided by the fallback instead.
      }
    }
    return this.#fallback.admit(limits, now);
  }
}
