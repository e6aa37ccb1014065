/**
 * The statements of a login's new session and of a revocation, compiled once and shared: the SQL
 * store runs them in its write transactions (sessions.ts), SQLite's synchronous session writes on
 * its connection (sqlite-session-writes.ts).
 */
import type { Kysely } from 'kysely';
import { prepareQuery } from './prepared-query.js';
import type { Database } from './schema.js';

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
