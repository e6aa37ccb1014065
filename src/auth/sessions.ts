/**
 * The refresh decision, as a pure function: given the stored token and session, the time and the
 * policy, what must happen. The store carries the decision out in the transaction that read the state.
 */
import type { RefreshDecision, RefreshTokenState } from '../store/types.js';
import { SessionEndReason } from './session-end-reasons.js';

export interface RefreshPolicy {
  idleTtlMs: number;
  graceMs: number;
}

export function decideRefresh(
  { token, session }: RefreshTokenState,
  now: number,
  policy: RefreshPolicy,
  successorHash: string,
): RefreshDecision {
  if (session.revokedAt !== null || now >= session.expiresAt || now >= session.idleExpiresAt) {
    return { action: 'reject' };
  }
  if (token.rotatedAt === null) {
    return {
      action: 'rotate',
      successorHash,
      now,
      idleExpiresAt: Math.min(now + policy.idleTtlMs, session.expiresAt),
    };
  }
  // Two tabs refreshing at once present the same token twice: both get the one successor.
  if (now - token.rotatedAt <= policy.graceMs) return { action: 'repeat' };
  // A rotated token used again later means two parties hold the family: assume theft (RFC 9700 §4.14.2).
  return { action: 'revoke', now, reason: SessionEndReason.refreshTokenReuse };
}
