/**
 * When each signing key signs and how long it stays published, decided from the stored records alone
 * (a pure function, so every instance reading the same rows reaches the same answer).
 *
 * A key signs from its activation until the first of: its own planned retirement, the activation of a
 * newer key, or its revocation. It stays published for `retentionMs` (access-token lifetime + clock
 * tolerance) after it stopped signing, never longer than its stored expiry. So a rotation needs no
 * write to the old key: inserting the new one retires it. A revoked key is never published.
 */
import type { SigningKeyRecord } from '../store/types.js';

export type SigningKeyState = 'next' | 'active' | 'retired' | 'revoked';

export interface ScheduledKey {
  record: SigningKeyRecord;
  state: SigningKeyState;
  /** When it stops (or stopped) signing. */
  retiresAt: number;
  /** When it leaves the JWKS and may be deleted; for a revoked key, only when it may be deleted. */
  expiresAt: number;
}

/** Signing order: later activation wins; of a tie, an unrevoked key, then the newer, then the greater kid. */
function comesAfter(a: SigningKeyRecord, b: SigningKeyRecord): boolean {
  if (a.activatesAt !== b.activatesAt) return a.activatesAt > b.activatesAt;
  // A revoked key never wins a tie: its replacement, made in the same millisecond, must sign.
  if ((a.revokedAt === null) !== (b.revokedAt === null)) return a.revokedAt === null;
  if (a.createdAt !== b.createdAt) return a.createdAt > b.createdAt;
  return a.kid > b.kid;
}

/** A key revoked before it activated never signed, so it never took over from another. */
const everActivates = (record: SigningKeyRecord) =>
  record.revokedAt === null || record.activatesAt <= record.revokedAt;

/** The schedule of `records` (one family: secrets and asymmetric keys never succeed each other). */
export function scheduleSigningKeys(
  records: readonly SigningKeyRecord[],
  now: number,
  retentionMs: number,
): ScheduledKey[] {
  const succession = records.filter(everActivates).sort((a, b) => (comesAfter(a, b) ? 1 : -1));
  return records.map((record) => {
    const position = succession.indexOf(record);
    const successor = position === -1 ? undefined : succession[position + 1];
    const retiresAt = Math.min(
      record.retiresAt,
      successor?.activatesAt ?? Number.POSITIVE_INFINITY,
      record.revokedAt ?? Number.POSITIVE_INFINITY,
    );
    const expiresAt = Math.min(record.expiresAt, retiresAt + retentionMs);
    const state: SigningKeyState =
      record.revokedAt !== null
        ? 'revoked'
        : record.activatesAt > now
          ? 'next'
          : retiresAt > now
            ? 'active'
            : 'retired';
    return { record, state, retiresAt, expiresAt };
  });
}
