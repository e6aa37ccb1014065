/**
 * Login and registration throttling over the store's counters, so the limits hold across instances.
 * Failures are counted per account+IP (a growing back-off after a few), per account (a cap that
 * stops slow distributed guessing) and per IP (a cap on one source spraying many accounts). A flood
 * from one IP only ever blocks that IP's pair below the per-account cap, so it cannot lock the
 * owner out from elsewhere. Checks run before the password is, so a throttled right password fails too.
 */
import { AuthError } from '../errors.js';
import type { CounterState, CounterStore } from '../store/types.js';

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
  registrationsPerIp: 20,
  registrationWindowMs: HOUR,
});

const keys = {
  pair: (email: string, ip: string) => `login:pair:${email}|${ip}`,
  account: (email: string) => `login:account:${email}`,
  ip: (ip: string) => `login:ip:${ip}`,
  registration: (ip: string) => `register:ip:${ip}`,
};

function rateLimited(untilMs: number, now: number): AuthError {
  const retryAfterSeconds = Math.max(1, Math.ceil((untilMs - now) / 1000));
  return new AuthError('ERR_RATE_LIMITED', 'too many attempts; try again later', { retryAfterSeconds });
}

/** A login that passed the throttle and is checking its password; `end()` it however it ends. */
export interface LoginAttempt {
  failed(now: number): Promise<void>;
  succeeded(): Promise<void>;
  /** No longer in flight; idempotent. Call it after `failed` has been awaited, never before. */
  end(): void;
}

/** How long an attempt refused because others for the same key are being checked should wait. */
const IN_FLIGHT_WAIT_MS = 1000;

export class Throttle {
  readonly #store: CounterStore;
  readonly #policy: ThrottlePolicy;
  /** Attempts per counter key between passing the check and recording their outcome, this process. */
  readonly #inFlight = new Map<string, number>();

  constructor(store: CounterStore, policy: ThrottlePolicy = DEFAULT_THROTTLE) {
    this.#store = store;
    this.#policy = policy;
  }

  /**
   * Throws ERR_RATE_LIMITED when a login for this account from this IP must wait; otherwise the
   * attempt counts as in flight until `end()`. The counters grow only after the password check, so
   * without that a burst sent at once would all pass and have as many passwords checked as the
   * hasher's queue takes.
   */
  async beginLogin(email: string, ip: string, now: number): Promise<LoginAttempt> {
    const counted = await this.#admitLogin(email, ip, now);
    let ended = false;
    return {
      failed: (at) => this.recordLoginFailure(email, ip, at),
      succeeded: () => this.recordLoginSuccess(email, ip),
      end: () => {
        if (ended) return;
        ended = true;
        for (const key of counted) {
          const left = (this.#inFlight.get(key) ?? 1) - 1;
          if (left === 0) this.#inFlight.delete(key);
          else this.#inFlight.set(key, left);
        }
      },
    };
  }

  /** Decides from the stored failures plus the attempts in flight, and counts this one in flight. */
  async #admitLogin(email: string, ip: string, now: number): Promise<string[]> {
    const p = this.#policy;
    const pairKey = keys.pair(email, ip);
    const accountKey = keys.account(email);
    const ipKey = keys.ip(ip);
    const [pair, account, source] = await Promise.all([
      this.#store.readCounter(pairKey, now),
      this.#store.readCounter(accountKey, now),
      this.#store.readCounter(ipKey, now),
    ]);
    const pairFlying = this.#flying(pairKey);
    if ((pair?.count ?? 0) + pairFlying >= p.pairFreeFailures) {
      // Past the free failures, one attempt at a time, each after its back-off.
      if (pairFlying > 0) throw rateLimited(now + IN_FLIGHT_WAIT_MS, now);
      if (pair !== null) {
        const backoff = Math.min(
          p.pairBaseBackoffMs * 2 ** (pair.count - p.pairFreeFailures),
          p.pairWindowMs,
        );
        const until = Math.min(pair.lastAt + backoff, pair.expiresAt);
        if (now < until) throw rateLimited(until, now);
      }
    }
    for (const [key, counter, max] of [
      [accountKey, account, p.accountMaxFailures],
      [ipKey, source, p.ipMaxFailures],
    ] as const) {
      const stored = counter?.count ?? 0;
      if (stored >= max) throw rateLimited((counter as CounterState).expiresAt, now);
      if (stored + this.#flying(key) >= max) throw rateLimited(now + IN_FLIGHT_WAIT_MS, now);
    }
    const counted = [pairKey, accountKey, ipKey];
    // In the same synchronous stretch as the decision: an await in between would let every attempt
    // of a burst decide before any of them counted.
    for (const key of counted) this.#inFlight.set(key, this.#flying(key) + 1);
    return counted;
  }

  #flying(key: string): number {
    return this.#inFlight.get(key) ?? 0;
  }

  async recordLoginFailure(email: string, ip: string, now: number): Promise<void> {
    const p = this.#policy;
    await Promise.all([
      this.#store.recordFailure(keys.pair(email, ip), p.pairWindowMs, now),
      this.#store.recordFailure(keys.account(email), p.accountWindowMs, now),
      this.#store.recordFailure(keys.ip(ip), p.ipWindowMs, now),
    ]);
  }

  /** A successful login forgives that pair's failures; the account and IP caps keep counting. */
  async recordLoginSuccess(email: string, ip: string): Promise<void> {
    await this.#store.clearCounter(keys.pair(email, ip));
  }

  /** Counts a registration attempt from `ip` and throws ERR_RATE_LIMITED past the hourly cap. */
  async admitRegistration(ip: string, now: number): Promise<void> {
    const counter = await this.#store.readCounter(keys.registration(ip), now);
    if (counter !== null && counter.count >= this.#policy.registrationsPerIp)
      throw rateLimited(counter.expiresAt, now);
    await this.#store.recordFailure(keys.registration(ip), this.#policy.registrationWindowMs, now);
  }
}
