/** The sessions part of the SQL store (see sql-store.ts): sessions, refresh tokens, the revocation feed. */
import type { ExpressionBuilder, Kysely } from 'kysely';
import { newSessionRecord } from '../session-record.js';
import type {
  LiveSessionLimit,
  NewLoginSession,
  NewSession,
  RefreshDecision,
  RefreshOutcome,
  RefreshTokenState,
  RevokedSession,
  RevokedSessionsPage,
  SessionRecord,
  SessionStore,
} from '../session-store.js';
import { prepareQuery } from './prepared-query.js';
import { toSessionRecord } from './rows.js';
import { type Database, SESSION_COLUMNS } from './schema.js';
import {
  endingFor,
  liveSessionOf,
  mayEndSessions,
  prepareSessionQueries,
  type SessionQueries,
  stillVerified,
} from './session-queries.js';
import type { ReadQuery, WriteStrategy, WriteTransaction } from './write-transaction.js';

export interface SessionWriteStrategy extends WriteStrategy {
  /**
   * The dialect's own `consumeRefreshToken`: the hottest write there is, made atomic the way each
   * dialect does it fastest (sqlite-session-writes.ts, postgres-refresh.ts).
   */
  consumeRefreshToken: SessionStore['consumeRefreshToken'];
  /** The dialect's own `createLoginSession`, when it has a faster way; default: the write transaction. */
  createLoginSession?: SessionStore['createLoginSession'];
}

/**
 * The revocation feed's query: the sessions revoked at `since` or later, in the feed's order
 * (revocation time, then id), one page of them when `page` is given.
 */
export function revokedSessionsQuery(db: Kysely<Database>, since: number, page?: RevokedSessionsPage) {
  const listed = () =>
    db.selectFrom('sessions').select(['id', 'revoked_at']).$narrowType<{ revoked_at: number }>();
  const fromSince = listed().where('revoked_at', '>=', since).orderBy('revoked_at').orderBy('id');
  if (page === undefined) return fromSince;
  const { after, limit } = page;
  if (after === null || after.revokedAt < since) return fromSince.limit(limit);
  // Two ranges of the feed's index (migration 0004), each read in place: the rest of `after`'s
  // instant, then the instants after it; in one statement, so both come from one snapshot. Written as
  // one condition (time > t OR time = t AND id > i), each page of a logout-all's thousands of sessions
  // revoked in one instant would scan that whole instant.
  const sameInstant = listed()
    .where('revoked_at', '=', after.revokedAt)
    .where('id', '>', after.id)
    .orderBy('id')
    .limit(limit);
  const later = listed()
    .where('revoked_at', '>', after.revokedAt)
    .orderBy('revoked_at')
    .orderBy('id')
    .limit(limit);
  return db
    .selectFrom(sameInstant.as('same_instant'))
    .selectAll()
    .unionAll(db.selectFrom(later.as('later')).selectAll())
    .orderBy('revoked_at')
    .orderBy('id')
    .limit(limit);
}

export class SQLSessionStore implements SessionStore {
  readonly #db: Kysely<Database>;
  readonly #write: WriteTransaction;
  readonly #read: ReadQuery;
  readonly #sessionById;
  readonly #queries: SessionQueries;
  readonly #lockRows: boolean;

  readonly #consumeRefreshToken: SessionStore['consumeRefreshToken'];
  readonly #createLoginSession: SessionStore['createLoginSession'] | undefined;

  constructor(
    db: Kysely<Database>,
    { write, read, lockRows, consumeRefreshToken, createLoginSession }: SessionWriteStrategy,
  ) {
    this.#db = db;
    this.#read = read;
    this.#consumeRefreshToken = consumeRefreshToken;
    this.#createLoginSession = createLoginSession;
    this.#write = write;
    this.#queries = prepareSessionQueries(db, lockRows);
    this.#lockRows = lockRows;
    this.#sessionById = prepareQuery(['id'], ({ id }) =>
      db.selectFrom('sessions').select(SESSION_COLUMNS).where('id', '=', id),
    );
  }

  async createSession(session: NewSession, refreshTokenHash: string): Promise<SessionRecord> {
    await this.#write((trx) => this.#insertSession(trx, session, refreshTokenHash));
    return newSessionRecord(session);
  }

  async createLoginSession(
    session: NewSession,
    refreshTokenHash: string,
    verifiedHash: string,
    limit: LiveSessionLimit,
  ): Promise<NewLoginSession | null> {
    if (this.#createLoginSession !== undefined) {
      return this.#createLoginSession(session, refreshTokenHash, verifiedHash, limit);
    }
    return this.#write(async (trx) => {
      // Locked with the session insert, so a password change waits for this login or sees it, and
      // two logins of one user count each other's sessions.
      const [user] = (await trx.executeQuery(this.#queries.loginCheck({ id: session.userId }))).rows;
      if (!stillVerified(user, verifiedHash)) return null;
      const ending = endingFor(session, limit);
      const [unrevoked] = (await trx.executeQuery(this.#queries.countUnrevoked(ending))).rows;
      const ended = mayEndSessions(unrevoked, ending)
        ? (await trx.executeQuery(this.#queries.endLeastRecentlyUsed(ending))).rows.map((row) => row.id)
        : [];
      await this.#insertSession(trx, session, refreshTokenHash);
      return { session: newSessionRecord(session), ended };
    });
  }

  /** A new session and its first refresh token: a login's two inserts. */
  async #insertSession(trx: Kysely<Database>, session: NewSession, refreshTokenHash: string): Promise<void> {
    const { insertSession, insertToken } = this.#queries;
    await trx.executeQuery(insertSession(session));
    await trx.executeQuery(
      insertToken({ hash: refreshTokenHash, sessionId: session.id, createdAt: session.createdAt }),
    );
  }

  async findSession(id: string): Promise<SessionRecord | null> {
    const [row] = await this.#read(this.#sessionById({ id }));
    return row === undefined ? null : toSessionRecord(row);
  }

  async listActiveSessions(userId: string, now: number): Promise<SessionRecord[]> {
    const rows = await this.#db
      .selectFrom('sessions')
      .select(SESSION_COLUMNS)
      .where((live) => liveSessionOf(live, userId, now))
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
    return rows.map(toSessionRecord);
  }

  consumeRefreshToken(
    hash: string,
    decide: (state: RefreshTokenState) => RefreshDecision,
  ): Promise<RefreshOutcome | null> {
    return this.#consumeRefreshToken(hash, decide);
  }

  async revokeSession(id: string, now: number, reason: string): Promise<SessionRecord | null> {
    await this.#write((trx) => trx.executeQuery(this.#queries.revokeIfLive({ id, now, reason })));
    return this.findSession(id);
  }

  async revokeUserSessions(
    userId: string,
    now: number,
    reason: string,
    exceptSessionId?: string,
  ): Promise<string[]> {
    return this.#write(async (trx) => {
      // The user's row first, as a login (which may end several of these sessions) and a password
      // change lock it: taken in one order, their row locks cannot deadlock.
      if (this.#lockRows) await trx.executeQuery(this.#queries.loginCheck({ id: userId }));
      return revokeLiveSessions(trx, userId, now, reason, exceptSessionId ?? null);
    });
  }

  async listRevokedSessionsSince(since: number, page?: RevokedSessionsPage): Promise<RevokedSession[]> {
    const rows = await revokedSessionsQuery(this.#db, since, page).execute();
    return rows.map((row) => ({ id: row.id, revokedAt: row.revoked_at }));
  }

  async deleteExpiredSessions(before: number): Promise<number> {
    const expired = (eb: ExpressionBuilder<Database, 'sessions'>) =>
      eb.or([
        eb('expires_at', '<', before),
        eb('idle_expires_at', '<', before),
        eb('revoked_at', '<', before),
      ]);
    return this.#write(async (trx) => {
      await trx
        .deleteFrom('refresh_tokens')
        .where('session_id', 'in', trx.selectFrom('sessions').select('id').where(expired))
        .execute();
      const result = await trx.deleteFrom('sessions').where(expired).executeTakeFirst();
      return Number(result.numDeletedRows);
    });
  }
}

/** Revokes every live session of a user but `exceptSessionId`; the ids it revoked. */
export async function revokeLiveSessions(
  db: Kysely<Database>,
  userId: string,
  now: number,
  reason: string,
  exceptSessionId: string | null,
): Promise<string[]> {
  let query = db
    .updateTable('sessions')
    .set({ revoked_at: now, revoked_reason: reason })
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null);
  if (exceptSessionId !== null) query = query.where('id', '!=', exceptSessionId);
  const rows = await query.returning('id').execute();
  return rows.map((row) => row.id);
}
