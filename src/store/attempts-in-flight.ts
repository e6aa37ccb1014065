/**
 * Logins in flight: attempts that passed the throttle and are having their password checked. Their
 * failures are counted only once the check ends, so without this a burst sent at once would all pass
 * the throttle and get as many password checks as the hasher's queue takes. Across instances the
 * count must be shared, or a burst spread over N instances gets N times the checks: hence one
 * implementation per place the count can live: this process (src/auth/local-attempts-in-flight.ts),
 * the store's counters, Redis.
 */

/** At most `limit` attempts under `key` may be in flight at once, this one included. */
export interface InFlightLimit {
  key: string;
  limit: number;
}

/** Ends an admitted attempt's time in flight; idempotent, and it never throws. */
export type ReleaseAttempt = () => Promise<void>;

export interface AttemptsInFlight {
  /**
   * Counts one more attempt under every key if each would then be within its limit, in one atomic
   * decision that sees the attempts of every instance sharing this count; otherwise counts nothing.
   * The release of the counted attempt, or null when it was refused.
   */
  admit(limits: readonly InFlightLimit[], now: number): Promise<ReleaseAttempt | null>;
}

/** Makes `release` run once however often it is called. */
export function releaseOnce(release: () => Promise<void>): ReleaseAttempt {
  let done: Promise<void> | null = null;
  return () => {
    done ??= release();
    return done;
  };
}
