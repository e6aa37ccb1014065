/** The auth domain's policies, complete; the server's config fills them from the environment. */
import type { ThrottlePolicy } from './throttle.js';

export interface SessionPolicy {
  absoluteTtlMs: number;
  idleTtlMs: number;
  /** A rotated refresh token presented again within this window gets the same successor. */
  refreshGraceMs: number;
  /**
   * Live sessions a user may have: a login beyond it ends the least recently used. Every login adds
   * a row, and only failed logins are throttled; without a bound, one account's logins would grow
   * its session list and the store without end.
   */
  maxLivePerUser: number;
}

const DAY = 86_400_000;

export const DEFAULT_SESSION_POLICY: Readonly<SessionPolicy> = Object.freeze({
  absoluteTtlMs: 30 * DAY,
  idleTtlMs: 7 * DAY,
  refreshGraceMs: 10_000,
  maxLivePerUser: 100,
});

export interface ResolvedAuthOptions {
  sessions: SessionPolicy;
  throttle: ThrottlePolicy;
}
