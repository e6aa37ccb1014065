/** The sessions part of the SQL store (see sql-store.ts): sessions, refresh tokens, the revocation feed. */
import type { ExpressionBuilder, Kysely } from 'kysely';
import { newSessionRecord } from '../session-record.js';
import type {
  NewSession,
  RefreshDecision,
  RefreshOutcome,
  RefreshTokenState,
  RevokedSession,
  SessionRecord,
  SessionStore,
} from '../session-store.js';
import { prepareQuery } from './prepared-query.js';
import { toSessionRecord } from './rows.js';
import { type Database, SESSION_COLUMNS } from './schema.js';
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

export class SQLSessionStore implements SessionStore {
  readonly #db: Kysely<Database>;
  readonly #write: WriteTransaction;
  readonly #read: ReadQuery;
  readonly #lockRows: boolean;
  readonly #sessionById;
  readonly #insertSession;
  readonly #loginCheck;

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
    this.#lockRows = lockRows;
    this.#insertSession = prepareSessionInsert(db);
    this.#loginCheck = prepareQuery(['id'], ({ id }) =>
      db
        .selectFrom('users')
        .select(['password_hash', 'disabled_at'])
        .where('id', '=', id)
        .$if(this.#lockRows, (query) => query.forUpdate()),
    );
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
  ): Promise<SessionRecord | null> {
    if (this.#createLoginSession !== undefined) {
      return this.#createLoginSession(session, refreshTokenHash, verifiedHash);
    }
    return this.#write(async (trx) => {
      // Locked with the session insert, so a password change waits for this login or sees it.
      const user = (await trx.executeQuery(this.#loginCheck({ id: session.userId }))).rows[0];
      if (user === undefined || user.disabled_at !== null || user.password_hash !== verifiedHash) return null;
      await this.#insertSession(trx, session, refreshTokenHash);
      return newSessionRecord(session);
    });
  }

  async findSession(id: string): Promise<SessionRecord | null> {
    const [row] = await this.#read(this.#sessionById({ id }));
    return row === undefined ? null : toSessionRecord(row);
  }

  async listActiveSessions(userId: string, now: number): Promise<SessionRecord[]> {
    const rows = await this.#db
      .selectFrom('sessions')
      .select(SESSION_COLUMNS)
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now)
      .where('idle_expires_at', '>', now)
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
    await this.#write((trx) => revokeSessionIfLive(trx, id, now, reason));
    return this.findSession(id);
  }

  async revokeUserSessions(
    userId: string,
    now: number,
    reason: string,
    exceptSessionId?: string,
  ): Promise<string[]> {
    return this.#write((trx) => revokeLiveSessions(trx, userId, now, reason, exceptSessionId ?? null));
  }

  async listRevokedSessionsSince(since: number): Promise<RevokedSession[]> {
    const rows = await this.#db
      .selectFrom('sessions')
      .select(['id', 'revoked_at'])
      .where('revoked_at', '>=', since)
      .orderBy('revoked_at')
      .orderBy('id')
      .$narrowType<{ revoked_at: number }>()
      .execute();
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

/** A revoked session keeps its first revocation: the time the feed already announced. */
async function revokeSessionIfLive(
  db: Kysely<Database>,
  id: string,
  now: number,
  reason: string,
): Promise<void> {
  await db
    .updateTable('sessions')
    .set({ revoked_at: now, revoked_reason: reason })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .execute();
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

/**
 * A new session and its first refresh token, compiled once (as the rotation): a login's two inserts.
 */
function prepareSessionInsert(db: Kysely<Database>) {
  const insertSession = prepareQuery(
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
  );
  const insertToken = prepareQuery(['hash', 'sessionId', 'createdAt'], ({ hash, sessionId, createdAt }) =>
    db.insertInto('refresh_tokens').values({
      hash,
      session_id: sessionId,
      created_at: createdAt,
      rotated_at: null,
      successor_hash: null,
    }),
  );
  return async (trx: Kysely<Database>, session: NewSession, refreshTokenHash: string): Promise<void> => {
    await trx.executeQuery(insertSession(session));
    await trx.executeQuery(
      insertToken({ hash: refreshTokenHash, sessionId: session.id, createdAt: session.createdAt }),
    );
  };
}
