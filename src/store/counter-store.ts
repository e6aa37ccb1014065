/** The counters part of the store: fixed-window failure counters for throttling. */

/** A fixed-window counter of failures (throttling), shared by every instance through the store. */
export interface CounterState {
  count: number;
  windowStartedAt: number;
  /** The latest failure counted: failures recorded at once by several instances may commit in any order. */
  lastAt: number;
  /** When the window ends and the counter is forgotten. */
  expiresAt: number;
}

/** One failure to count: under `key`, in a window of `windowMs` (a new window once the last has ended). */
export interface CounterFailure {
  key: string;
  windowMs: number;
}

/**
 * Several counters at a time: a login reads three, and across instances counts itself in flight
 * under three more, so one round trip for all of them instead of one each.
 */
export interface CounterStore {
  /**
   * Counts each failure, the keys distinct; their states after, in the same order. Each count is
   * atomic (concurrent failures never lose one); the batch as a whole need not be.
   */
  recordFailures(failures: readonly CounterFailure[], now: number): Promise<CounterState[]>;
  /** The counters under `keys`, in the same order: null where there is none or its window has ended. */
  readCounters(keys: readonly string[], now: number): Promise<(CounterState | null)[]>;
  clearCounter(key: string): Promise<void>;
  /** Deletes counters whose window ended before `before`; the number deleted. */
  deleteExpiredCounters(before: number): Promise<number>;
}

/**
 * Refuses a batch that names a key twice, before any store sees it: one statement cannot count the
 * same row twice (PostgreSQL refuses it), and what the second count should return is ambiguous.
 */
export function assertDistinctKeys(keys: readonly string[]): void {
  if (new Set(keys).size !== keys.length) throw new TypeError('a batch of counters names a key twice');
}
