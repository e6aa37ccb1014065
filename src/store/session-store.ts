/**
 * The sessions part of the store: login sessions, their refresh-token families, and the feed of
 * revoked sessions every instance reads. Sessions belong to users, so an implementation shares its
 * database with a `UserStore`.
 */
import type { UserRecord } from './user-store.js';

/** One login: a refresh-token family. Its id is the `sid` claim of every access token it yields. */
export interface SessionRecord {
  id: string;
  userId: string;
  createdAt: number;
  lastUsedAt: number;
  /** End of the absolute lifetime; no refresh extends it. */
  expiresAt: number;
  /** End of the idle lifetime; every rotation moves it, never past `expiresAt`. */
  idleExpiresAt: number;
  userAgent: string | null;
  ip: string | null;
  revokedAt: number | null;
  revokedReason: string | null;
}

export type NewSession = Omit<SessionRecord, 'revokedAt' | 'revokedReason'>;

/** A refresh token, known only by its SHA-256 hash. */
export interface RefreshTokenRecord {
  hash: string;
  sessionId: string;
  createdAt: number;
  /** When it was exchanged for its successor; null while it is the family's current token. */
  rotatedAt: number | null;
  successorHash: string | null;
}

/** What the store found for a presented refresh token: the input of the domain's pure decision. */
export interface RefreshTokenState {
  token: RefreshTokenRecord;
  session: SessionRecord;
}

/** The domain's verdict on a presented refresh token, which the store carries out atomically. */
export type RefreshDecision =
  /** Mark the token rotated, store its successor, and move the session's use and idle times. */
  | { action: 'rotate'; successorHash: string; now: number; idleExpiresAt: number }
  /** A repeat inside the grace window: change nothing; the caller hands out the same successor. */
  | { action: 'repeat' }
  /** A rotated token used again after the grace window: revoke the whole family, and keep that. */
  | { action: 'revoke'; now: number; reason: string }
  /** Expired or revoked session: change nothing. */
  | { action: 'reject' };

/**
 * What the store did. A token that is handed out again (rotate, repeat) comes with the session's user
 * and roles as read with the token, so the caller needs no second trip to the database; null when the
 * user is gone.
 */
export type RefreshOutcome =
  | { action: 'rotate'; session: SessionRecord; user: UserRecord | null }
  | { action: 'repeat'; session: SessionRecord; user: UserRecord | null; successorHash: string }
  | { action: 'revoke'; session: SessionRecord }
  | { action: 'reject'; session: SessionRecord };

export interface RevokedSession {
  id: string;
  revokedAt: number;
}

/**
 * Part of the revoked sessions, in their list's order (revocation time, then id): at most `limit`,
 * those after `after` when it is given.
 */
export interface RevokedSessionsPage {
  after: RevokedSession | null;
  limit: number;
}

/** How many live sessions a user may have, and the reason recorded for those a login ends. */
export interface LiveSessionLimit {
  most: number;
  reason: string;
}

/** A login's new session, and the ids of the user's sessions it ended to stay within the limit. */
export interface NewLoginSession {
  session: SessionRecord;
  ended: string[];
}

export interface SessionStore {
  /** Stores a new session with its first refresh token, in one transaction. */
  createSession(session: NewSession, refreshTokenHash: string): Promise<SessionRecord>;
  /**
   * `createSession` for a login that verified `verifiedHash`: in the same transaction, only if the
   * user still has that hash and is not disabled. `null` when a password change or disabling
   * committed after the check, so that the login cannot outlive it. In that transaction too, the
   * user's live sessions beyond `limit.most − 1` are revoked (at the new session's `createdAt`, the
   * least recently used first), so that with the new one the user has at most `limit.most`.
   */
  createLoginSession(
    session: NewSession,
    refreshTokenHash: string,
    verifiedHash: string,
    limit: LiveSessionLimit,
  ): Promise<NewLoginSession | null>;
  findSession(id: string): Promise<SessionRecord | null>;
  /** Sessions of a user that are neither revoked nor expired at `now`, newest first. */
  listActiveSessions(userId: string, now: number): Promise<SessionRecord[]>;
  /**
   * Looks up a refresh token and its session, asks `decide` what to do, and does it, all in one
   * transaction, so two uses of one token can never both rotate it. `null` for an unknown token.
   */
  consumeRefreshToken(
    hash: string,
    decide: (state: RefreshTokenState) => RefreshDecision,
  ): Promise<RefreshOutcome | null>;
  /** Revokes one session; the session as it is afterwards, or null if there is none. */
  revokeSession(id: string, now: number, reason: string): Promise<SessionRecord | null>;
  /** Revokes every live session of a user (but `exceptSessionId`); the ids it revoked. */
  revokeUserSessions(
    userId: string,
    now: number,
    reason: string,
    exceptSessionId?: string,
  ): Promise<string[]>;
  /**
   * Sessions revoked at or after `since`, oldest revocation first (ties by id), for the revocation
   * feed of every instance: all of them, or one `page`.
   */
  listRevokedSessionsSince(since: number, page?: RevokedSessionsPage): Promise<RevokedSession[]>;
  /** Deletes sessions (and their tokens) that expired before `before`; the number deleted. */
  deleteExpiredSessions(before: number): Promise<number>;
}
