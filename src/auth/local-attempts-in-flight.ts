/** Logins in flight counted in this process (see src/store/attempts-in-flight.ts). */
import type { AttemptsInFlight, InFlightLimit, ReleaseAttempt } from '../store/types.js';

/** This process only: right for one instance on SQLite, which no other instance can share. */
export class LocalAttemptsInFlight implements AttemptsInFlight {
  readonly #counts = new Map<string, number>();

  async admit(limits: readonly InFlightLimit[]): Promise<ReleaseAttempt | null> {
    // Decided and counted in one synchronous stretch: an await in between would let every attempt of
    // a burst decide before any of them counted.
    if (limits.some(({ key, limit }) => this.count(key) + 1 > limit)) return null;
    for (const { key } of limits) this.#counts.set(key, this.count(key) + 1);
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      for (const { key } of limits) {
        const left = this.count(key) - 1;
        if (left <= 0) this.#counts.delete(key);
        else this.#counts.set(key, left);
      }
    };
  }

  count(key: string): number {
    return this.#counts.get(key) ?? 0;
  }
}
