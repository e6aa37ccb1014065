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

export interface CounterStore {
  /** Counts one failure under `key` in a window of `windowMs` (a new window once it has ended). */
  recordFailure(key: string, windowMs: number, now: number): Promise<CounterState>;
  /** The counter under `key`, or null when there is none or its window has ended. */
  readCounter(key: string, now: number): Promise<CounterState | null>;
  clearCounter(key: string): Promise<void>;
  /** Deletes counters whose window ended before `before`; the number deleted. */
  deleteExpiredCounters(before: number): Promise<number>;
}
