/**
 * Login and registration throttling over shared failure counters (`CounterStore`) and a shared count
 * of logins in flight (`AttemptsInFlight`), so the limits hold across instances.
 * Failures are counted per account+IP (a growing back-off after a few), per account (a cap that
 * stops slow distributed guessing) and per IP (a cap on one source spraying many accounts). A flood
 * from one IP only ever blocks that IP's pair below the per-account cap, so it cannot lock the
 * owner out from elsewhere. Checks run before the password is, so a throttled right password fails too.
 */
import { AuthError } from '../errors.js';
import type {
  AttemptsInFlight,
  CounterState,
  CounterStore,
  InFlightLimit,
  ReleaseAttempt,
} from '../store/types.js';
import { throttleSubject } from './client-address.js';
import { LocalAttemptsInFlight } from './local-attempts-in-flight.js';

export interface ThrottlePolicy {
  /** Failures per account+IP before back-off starts; default 5. */
  pairFreeFailures: number;
  pairWindowMs: number;
  /** Back-off after the first blocked failure, doubling with each further one; capped at the window. */
  pairBaseBackoffMs: number;
  accountMaxFailures: number;
  accountWindowMs: number;
  ipMaxFailures: number;
  ipWindowMs: number;
  /**
   * Logins from one address whose passwords are being checked at once; default 32. The hasher's queue
   * is shared by everyone: without this, one address spreading its failures over many accounts could
   * hold every place in it, and every other login would be answered 503.
   */
  ipMaxInFlight: number;
  registrationsPerIp: number;
  registrationWindowMs: number;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

export const DEFAULT_THROTTLE: Readonly<ThrottlePolicy> = Object.freeze({
  pairFreeFailures: 5,
  pairWindowMs: 15 * MINUTE,
  pairBaseBackoffMs: 15_000,
  accountMaxFailures: 100,
  accountWindowMs: HOUR,
  ipMaxFailures: 300,
  ipWindowMs: HOUR,
  ipMaxInFlight: 32,
  registrationsPerIp: 20,
  registrationWindowMs: HOUR,
});

/** Per address means per IPv6 /64 (client-address.ts): one client can take any address in it. */
const keys = {
  pair: (email: string, ip: string) => `login:pair:${email}|${throttleSubject(ip)}`,
  account: (email: string) => `login:account:${email}`,
  ip: (ip: string) => `login:ip:${throttleSubject(ip)}`,
  registration: (ip: string) => `register:ip:${throttleSubject(ip)}`,
};

/** The wait as a person reads it; the exact seconds go in Retry-After. */
function waitInWords(seconds: number): string {
  if (seconds < 120) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  return `${Math.ceil(seconds / 60)} minutes`;
}

function rateLimited(untilMs: number, now: number): AuthError {
  const retryAfterSeconds = Math.max(1, Math.ceil((untilMs - now) / 1000));
  return new AuthError(
    'ERR_RATE_LIMITED',
    `too many attempts; try again in ${waitInWords(retryAfterSeconds)}`,
    {
      retryAfterSeconds,
    },
  );
}

/** A login that passed the throttle and is checking its password; `end()` it however it ends. */
export interface LoginAttempt {
  failed(now: number): Promise<void>;
  succeeded(): Promise<void>;
  /**
   * No longer in flight; idempotent, and it never rejects. Call it after `failed` has been awaited,
   * never before. Where the count is shared (store, Redis) it resolves once the end is counted.
   */
  end(): Promise<void>;
}

/** How long an attempt refused because others for the same key are being checked should wait. */
const IN_FLIGHT_WAIT_MS = 1000;
/** Admissions an attempt tries while failures keep changing the counters under it. */
const MAX_ADMIT_ROUNDS = 5;

function sameCounter(a: CounterState | null, b: CounterState | null): boolean {
  if (a === null || b === null) return a === b;
  return a.count === b.count && a.windowStartedAt === b.windowStartedAt;
}

export class Throttle {
  readonly #counters: CounterStore;
  readonly #policy: ThrottlePolicy;
  /** Attempts per counter key between passing the check and recording their outcome. */
  readonly #inFlight: AttemptsInFlight;

  constructor(
    counters: CounterStore,
    policy: ThrottlePolicy = DEFAULT_THROTTLE,
    inFlight: AttemptsInFlight = new LocalAttemptsInFlight(),
  ) {
    this.#counters = counters;
    this.#policy = policy;
    this.#inFlight = inFlight;
  }

  /**
   * Throws ERR_RATE_LIMITED when a login for this account from this IP must wait; otherwise the
   * attempt counts as in flight until `end()`. The counters grow only after the password check, so
   * without that a burst sent at once would all pass and have as many passwords checked as the
   * hasher's queue takes.
   */
  async beginLogin(email: string, ip: string, now: number): Promise<LoginAttempt> {
    const { release, pairFailed } = await this.#admitLogin(email, ip, now);
    return {
      failed: (at) => this.recordLoginFailure(email, ip, at),
      // Nothing to forgive when the pair had no failures as the attempt began: a write (and a flush)
      // saved on nearly every login. One recorded meanwhile by a parallel attempt stays counted,
      // which errs on the strict side.
      succeeded: () => (pairFailed ? this.recordLoginSuccess(email, ip) : Promise.resolve()),
      end: release,
    };
  }

  /**
   * Decides from the stored failures how many attempts per key may be in flight, and has the
   * in-flight count admit this one against those limits in one atomic step.
   */
  async #admitLogin(
    email: string,
    ip: string,
    now: number,
  ): Promise<{ release: ReleaseAttempt; pairFailed: boolean }> {
    const counterKeys = [keys.pair(email, ip), keys.account(email), keys.ip(ip)] as const;
    let counters = await this.#counters.readCounters(counterKeys, now);
    for (let round = 0; round < MAX_ADMIT_ROUNDS; round += 1) {
      const release = await this.#inFlight.admit(this.#limits(counterKeys, counters, now), now);
      if (release === null) throw rateLimited(now + IN_FLIGHT_WAIT_MS, now);
      // An attempt that ended between the read above and the admission is no longer in flight, and
      // its failure (recorded before it ended) may be missing from what was read: read again, now
      // that this attempt is counted. Unchanged, the decision stands; otherwise decide anew.
      let again: (CounterState | null)[];
      try {
        again = await this.#counters.readCounters(counterKeys, now);
      } catch (error) {
        // Never left counted in flight: in this process that would refuse the pair until a restart.
        await release();
        throw error;
      }
      if (again.every((counter, i) => sameCounter(counter, counters[i] ?? null))) {
        return { release, pairFailed: again[0] !== null };
      }
      await release();
      counters = again;
    }
    // Failures keep landing while this attempt decides: a burst is under way, so it waits.
    throw rateLimited(now + IN_FLIGHT_WAIT_MS, now);
  }

  /** Throws ERR_RATE_LIMITED when the stored failures refuse the attempt; otherwise its in-flight limits. */
  #limits(
    [pairKey, accountKey, ipKey]: readonly [string, string, string],
    [pair = null, account = null, source = null]: readonly (CounterState | null)[],
    now: number,
  ): InFlightLimit[] {
    const p = this.#policy;
    const pairFailures = pair?.count ?? 0;
    if (pair !== null && pairFailures >= p.pairFreeFailures) {
      const backoff = Math.min(
        p.pairBaseBackoffMs * 2 ** (pairFailures - p.pairFreeFailures),
        p.pairWindowMs,
      );
      const until = Math.min(pair.lastAt + backoff, pair.expiresAt);
      if (now < until) throw rateLimited(until, now);
    }
    for (const [counter, max] of [
      [account, p.accountMaxFailures],
      [source, p.ipMaxFailures],
    ] as const) {
      if (counter !== null && counter.count >= max) throw rateLimited(counter.expiresAt, now);
    }
    return [
      // Past the free failures, one attempt at a time, each after its back-off.
      { key: pairKey, limit: Math.max(p.pairFreeFailures - pairFailures, 1) },
      { key: accountKey, limit: p.accountMaxFailures - (account?.count ?? 0) },
      { key: ipKey, limit: Math.min(p.ipMaxFailures - (source?.count ?? 0), p.ipMaxInFlight) },
    ];
  }

  async recordLoginFailure(email: string, ip: string, now: number): Promise<void> {
    const p = this.#policy;
    await this.#counters.recordFailures(
      [
        { key: keys.pair(email, ip), windowMs: p.pairWindowMs },
        { key: keys.account(email), windowMs: p.accountWindowMs },
        { key: keys.ip(ip), windowMs: p.ipWindowMs },
      ],
      now,
    );
  }

  /** A successful login forgives that pair's failures; the account and IP caps keep counting. */
  async recordLoginSuccess(email: string, ip: string): Promise<void> {
    await this.#counters.clearCounter(keys.pair(email, ip));
  }

  /**
   * Counts a registration attempt from `ip` and throws ERR_RATE_LIMITED past the hourly cap. The count
   * the upsert returns decides, not the one read before it: attempts sent at once all read the same
   * count, and would all pass. The read only spares a write (and a flush) once the cap is reached.
   */
  async admitRegistration(ip: string, now: number): Promise<void> {
    const key = keys.registration(ip);
    const max = this.#policy.registrationsPerIp;
    const [before = null] = await this.#counters.readCounters([key], now);
    if (before !== null && before.count >= max) throw rateLimited(before.expiresAt, now);
    const [counted] = await this.#counters.recordFailures(
      [{ key, windowMs: this.#policy.registrationWindowMs }],
      now,
    );
    if (counted === undefined || counted.count > max) throw rateLimited(counted?.expiresAt ?? now, now);
  }
}
