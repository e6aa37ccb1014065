/** What every store refuses to carry out, whatever the domain decided: the decision's own invariants. */
import type { RefreshDecision, RefreshTokenRecord } from '../types.js';

/** Throws when `decision` cannot apply to `token`; a domain bug, never the client's doing. */
export function requireApplicable(token: RefreshTokenRecord, decision: RefreshDecision): void {
  // A second successor would fork the family; the domain may only repeat or revoke a rotated token.
  if (decision.action === 'rotate' && token.rotatedAt !== null) {
    throw new Error('cannot rotate a refresh token that was already rotated');
  }
  if (decision.action === 'repeat' && token.successorHash === null) {
    throw new Error('cannot repeat a refresh token that was never rotated: it has no successor');
  }
}
