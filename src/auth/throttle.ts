/**
 * Login and registration throttling over the store's counters, so the limits hold across instances.
 * Failures are counted per account+IP (a growing back-off after a few), per account (a cap that
 * stops slow distributed guessing) and per IP (a cap on one source spraying many accounts). A flood
 * from one IP only ever blocks that IP's pair below the per-account cap, so it cannot lock the
 * owner out from elsewhere. Checks run before the password is, so a throttled right password fails too.
 */
import { AuthError } from '../errors.js';
import type { Store } from '../store/types.js';

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

export class Throttle {
  readonly #store: Store;
  readonly #policy: ThrottlePolicy;

  constructor(store: Store, policy: ThrottlePolicy = DEFAULT_THROTTLE) {
    this.#store = store;
    this.#policy = policy;
  }

  /** Throws ERR_RATE_LIMITED when a login for this account from this IP must wait. */
  async checkLogin(email: string, ip: string, now: number): Promise<void> {
    const p = this.#policy;
    const [pair, account, source] = await Promise.all([
      this.#store.readCounter(keys.pair(email, ip), now),
      this.#store.readCounter(keys.account(email), now),
      this.#store.readCounter(keys.ip(ip), now),
    ]);
    if (pair !== null && pair.count >= p.pairFreeFailures) {
      const backoff = Math.min(p.pairBaseBackoffMs * 2 ** (pair.count - p.pairFreeFailures), p.pairWindowMs);
      const until = Math.min(pair.lastAt + backoff, pair.expiresAt);
      if (now < until) throw rateLimited(until, now);
    }
    if (account !== null && account.count >= p.accountMaxFailures) throw rateLimited(account.expiresAt, now);
    if (source !== null && source.count >= p.ipMaxFailures) throw rateLimited(source.expiresAt, now);
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
