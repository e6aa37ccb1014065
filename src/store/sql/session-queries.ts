/**
 * The statements of a login's new session and of a revocation, compiled once and shared: the SQL
 * store runs them in its write transactions (sessions.ts), SQLite's synchronous session writes on
 * its connection (sqlite-session-writes.ts).
 */
import type { ExpressionBuilder, Kysely } from 'kysely';
import type { LiveSessionLimit, NewSession } from '../types.js';
import { prepareQuery } from './prepared-query.js';
import type { Database } from './schema.js';

/** A session of `userId` that is neither revoked nor expired at `now`. */
export function liveSessionOf(eb: ExpressionBuilder<Database, 'sessions'>, userId: string, now: number) {
  return eb.and([
    eb('user_id', '=', userId),
    eb('revoked_at', 'is', null),
    eb('expires_at', '>', now),
    eb('idle_expires_at', '>', now),
  ]);
}

/** More live sessions than a login can find to end: the limit is at most 10,000 (config.ts). */
const MAX_ENDED_AT_ONCE = 1_000_000;

export function prepareSessionQueries(db: Kysely<Database>, lockRows: boolean) {
  return {
    /** What a login's session needs of its user still to hold (see `stillVerified`). */
    loginCheck: prepareQuery(['id'], ({ id }) =>
      db
        .selectFrom('users')
        .select(['password_hash', 'disabled_at'])
        .where('id', '=', id)
        .$if(lockRows, (query) => query.forUpdate()),
    ),
    insertSession: prepareQuery(
      ['id', 'userId', 'createdAt', 'lastUsedAt', 'expiresAt', 'idleExpiresAt', 'userAgent', 'ip'],
      (session) =>
        db.insertInto('sessions').values({
          id: session.id,
          user_id: session.userId,
          created_at: session.createdAt,
          last_used_at: session.lastUsedAt,
          expires_at: session.expiresAt,
          idle_expires_at: session.idleExpiresAt,
          user_agent: session.userAgent,
          ip: session.ip,
          revoked_at: null,
          revoked_reason: null,
        }),
    ),
    /** A session's first refresh token, or the successor of a rotated one. */
    insertToken: prepareQuery(['hash', 'sessionId', 'createdAt'], ({ hash, sessionId, createdAt }) =>
      db.insertInto('refresh_tokens').values({
        hash,
        session_id: sessionId,
        created_at: createdAt,
        rotated_at: null,
        successor_hash: null,
      }),
    ),
    /**
     * How many of the user's sessions are not revoked, expired ones too: an upper bound of the live
     * ones, counted from the index of live sessions by user alone (see `mayEndSessions`).
     */
    countUnrevoked: prepareQuery(['userId'], ({ userId }) =>
      db
        .selectFrom('sessions')
        .select((eb) => eb.fn.countAll().as('count'))
        .where('user_id', '=', userId)
        .where('revoked_at', 'is', null),
    ),
    /**
     * Ends the user's live sessions beyond the `keep` most recently used: room for a login's new one.
     * Read through the index of live sessions by user (migration 0005), so it costs as little for a
     * user with a day of ended sessions behind them as for one with none.
     */
    endLeastRecentlyUsed: prepareQuery(['userId', 'now', 'reason', 'keep'], ({ userId, now, reason, keep }) =>
      db
        .updateTable('sessions')
        .set({ revoked_at: now, revoked_reason: reason })
        // Again here: on PostgreSQL a revocation that committed meanwhile keeps its own time.
        .where('revoked_at', 'is', null)
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('sessions')
            .select('id')
            .where((live) => liveSessionOf(live, userId, now))
            .orderBy('last_used_at', 'desc')
            .orderBy('id', 'desc')
            // SQLite takes an OFFSET only after a LIMIT; none of ours allows this many sessions.
            .limit(MAX_ENDED_AT_ONCE)
            .offset(keep),
        )
        .returning('id'),
    ),
    /** A revoked session keeps its first revocation: the time the feed already announced. */
    revokeIfLive: prepareQuery(['id', 'now', 'reason'], ({ id, now, reason }) =>
      db
        .updateTable('sessions')
        .set({ revoked_at: now, revoked_reason: reason })
        .where('id', '=', id)
        .where('revoked_at', 'is', null),
    ),
  };
}

export type SessionQueries = ReturnType<typeof prepareSessionQueries>;

/** `endLeastRecentlyUsed`'s values for a login's new `session`: room for it within `limit`. */
export function endingFor(session: NewSession, limit: LiveSessionLimit) {
  return {
    userId: session.userId,
    now: session.createdAt,
    reason: limit.reason,
    keep: Math.max(limit.most - 1, 0),
  };
}

/**
 * Whether a login may have sessions to end, from `countUnrevoked`'s row: only when the user has more
 * unrevoked sessions than it keeps. Most logins have fewer, and their count reads the index alone,
 * where `endLeastRecentlyUsed` reads, sorts and offsets every live session of the user.
 */
export function mayEndSessions(row: { count: unknown } | undefined, ending: { keep: number }): boolean {
  // count(*) is a bigint on PostgreSQL: Number() takes it as a number (our pools parse int8) or a string.
  return Number(row?.count ?? 0) > ending.keep;
}

/**
 * Whether a login whose password was checked against `verifiedHash` may still get its session: the
 * user exists, is enabled, and has that hash still.
 */
export function stillVerified(
  user: { password_hash: string; disabled_at: number | null } | undefined,
  verifiedHash: string,
): boolean {
  return user !== undefined && user.disabled_at === null && user.password_hash === verifiedHash;
}
