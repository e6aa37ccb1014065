/** The sessions part of the SQL store (see sql-store.ts): sessions, refresh tokens, the revocation feed. */
import type { ExpressionBuilder, Kysely } from 'kysely';
import { newSessionRecord } from '../session-record.js';
import type {
  NewSession,
  RefreshDecision,
  RefreshOutcome,
  RefreshTokenRecord,
  RefreshTokenState,
  RevokedSession,
  SessionRecord,
  SessionStore,
} from '../session-store.js';
import type { UserRecord } from '../user-store.js';
import { prepareQuery } from './prepared-query.js';
import { requireApplicable } from './refresh-rules.js';
import { toRefreshTokenRecord, toSessionRecord } from './rows.js';
import { type Database, REFRESH_TOKEN_COLUMNS, SESSION_COLUMNS } from './schema.js';
import { prepareUserBy } from './user-query.js';
import type { WriteStrategy, WriteTransaction } from './write-transaction.js';

export interface SessionWriteStrategy extends WriteStrategy {
  /**
   * The dialect's own `consumeRefreshToken`, when it has a faster way to make it atomic than a write
   * transaction with row locks (PostgreSQL: postgres-refresh.ts). Default: the write transaction.
   */
  consumeRefreshToken?: SessionStore['consumeRefreshToken'];
}

export class SQLSessionStore implements SessionStore {
  readonly #db: Kysely<Database>;
  readonly #write: WriteTransaction;
  readonly #lockRows: boolean;
  readonly #refreshTokenByHash;
  readonly #sessionById;
  readonly #userById;
  readonly #rotation;
  readonly #insertSession;
  readonly #loginCheck;

  readonly #consumeRefreshToken: SessionStore['consumeRefreshToken'] | undefined;

  constructor(db: Kysely<Database>, { write, lockRows, consumeRefreshToken }: SessionWriteStrategy) {
    this.#db = db;
    this.#consumeRefreshToken = consumeRefreshToken;
    this.#write = write;
    this.#lockRows = lockRows;
    this.#refreshTokenByHash = prepareQuery(['hash'], ({ hash }) =>
      db
        .selectFrom('refresh_tokens')
        .select(REFRESH_TOKEN_COLUMNS)
        .where('hash', '=', hash)
        .$if(this.#lockRows, (query) => query.forUpdate()),
    );
    this.#userById = prepareUserBy(db, 'id');
    this.#rotation = prepareRotation(db);
    this.#insertSession = prepareSessionInsert(db);
    this.#loginCheck = prepareQuery(['id'], ({ id }) =>
      db
        .selectFrom('users')
        .select(['password_hash', 'disabled_at'])
        .where('id', '=', id)
        .$if(this.#lockRows, (query) => query.forUpdate()),
    );
    this.#sessionById = prepareQuery(['id'], ({ id }) =>
      db
        .selectFrom('sessions')
        .select(SESSION_COLUMNS)
        .where('id', '=', id)
        .$if(this.#lockRows, (query) => query.forUpdate()),
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
    return this.#write(async (trx) => {
      // Locked with the session insert, so a password change waits for this login or sees it.
      const user = (await trx.executeQuery(this.#loginCheck({ id: session.userId }))).rows[0];
      if (user === undefined || user.disabled_at !== null || user.password_hash !== verifiedHash) return null;
      await this.#insertSession(trx, session, refreshTokenHash);
      return newSessionRecord(session);
    });
  }

  async findSession(id: string): Promise<SessionRecord | null> {
    const row = (await this.#db.executeQuery(this.#sessionById({ id }))).rows[0];
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

  async consumeRefreshToken(
    hash: string,
    decide: (state: RefreshTokenState) => RefreshDecision,
  ): Promise<RefreshOutcome | null> {
    if (this.#consumeRefreshToken !== undefined) return this.#consumeRefreshToken(hash, decide);
    return this.#write(async (trx) => {
      const tokenRow = (await trx.executeQuery(this.#refreshTokenByHash({ hash }))).rows[0];
      if (tokenRow === undefined) return null;
      const sessionRow = (await trx.executeQuery(this.#sessionById({ id: tokenRow.session_id }))).rows[0];
      if (sessionRow === undefined) throw new Error('refresh token without its session');
      const token = toRefreshTokenRecord(tokenRow);
      const session = toSessionRecord(sessionRow);
      // Copies: what `decide` does to its argument must not leak into what is written.
      const decision = decide({ token: { ...token }, session: { ...session } });
      const owner = () => this.#userById(trx, session.userId);
      return applyDecision(trx, this.#rotation, token, session, decision, owner);
    });
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

/**
 * The writes of a rotation, compiled once: Kysely builds and compiles a query anew on every call,
 * which took a tenth of the event loop under refresh load on SQLite.
 */
function prepareRotation(db: Kysely<Database>) {
  const markRotated = prepareQuery(['hash', 'now', 'successorHash'], ({ hash, now, successorHash }) =>
    db
      .updateTable('refresh_tokens')
      .set({ rotated_at: now, successor_hash: successorHash })
      .where('hash', '=', hash),
  );
  const insertSuccessor = prepareQuery(
    ['sessionId', 'now', 'successorHash'],
    ({ sessionId, now, successorHash }) =>
      db.insertInto('refresh_tokens').values({
        hash: successorHash,
        session_id: sessionId,
        created_at: now,
        rotated_at: null,
        successor_hash: null,
      }),
  );
  const touchSession = prepareQuery(
    ['sessionId', 'now', 'idleExpiresAt'],
    ({ sessionId, now, idleExpiresAt }) =>
      db
        .updateTable('sessions')
        .set({ last_used_at: now, idle_expires_at: idleExpiresAt })
        .where('id', '=', sessionId),
  );
  return (values: {
    hash: string;
    sessionId: string;
    now: number;
    successorHash: string;
    idleExpiresAt: number;
  }) => [markRotated(values), insertSuccessor(values), touchSession(values)];
}

async function applyDecision(
  trx: Kysely<Database>,
  rotation: ReturnType<typeof prepareRotation>,
  token: RefreshTokenRecord,
  session: SessionRecord,
  decision: RefreshDecision,
  owner: () => Promise<UserRecord | null>,
): Promise<RefreshOutcome> {
  requireApplicable(token, decision);
  switch (decision.action) {
    case 'rotate': {
      const { now, successorHash, idleExpiresAt } = decision;
      for (const query of rotation({
        hash: token.hash,
        sessionId: session.id,
        now,
        successorHash,
        idleExpiresAt,
      })) {
        await trx.executeQuery(query);
      }
      return {
        action: 'rotate',
        session: { ...session, lastUsedAt: decision.now, idleExpiresAt: decision.idleExpiresAt },
        user: await owner(),
      };
    }
    case 'repeat':
      return { action: 'repeat', session, user: await owner(), successorHash: token.successorHash as string };
    case 'revoke':
      if (session.revokedAt !== null) return { action: 'revoke', session };
      await revokeSessionIfLive(trx, session.id, decision.now, decision.reason);
      return {
        action: 'revoke',
        session: { ...session, revokedAt: decision.now, revokedReason: decision.reason },
      };
    case 'reject':
      return { action: 'reject', session };
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
