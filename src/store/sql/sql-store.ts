/**
 * The store over any SQL database Kysely speaks to. Everything here is dialect-independent; the dialect
 * files (sqlite.ts, later postgres.ts) open the connection and supply the write transaction: how a
 * writer keeps others out, and when its commit counts as done.
 */
import { type ExpressionBuilder, type Kysely, sql } from 'kysely';
import { StoreError } from '../../errors.js';
import { newSessionRecord } from '../session-record.js';
import type {
  CounterState,
  NewSession,
  NewUser,
  RefreshDecision,
  RefreshOutcome,
  RefreshTokenRecord,
  RefreshTokenState,
  RevokedSession,
  SessionRecord,
  SigningKeyRecord,
  Store,
  UserRecord,
} from '../types.js';
import { prepareQuery } from './prepared-query.js';
import { requireApplicable } from './refresh-rules.js';
import {
  fromSigningKeyRecord,
  toCounterState,
  toRefreshTokenRecord,
  toSessionRecord,
  toSigningKeyRecord,
  toUserRecords,
} from './rows.js';
import type { Database } from './schema.js';
import { isUniqueViolation } from './unique-violation.js';

/**
 * Runs `work` in one transaction and resolves once its commit is durable. Every write of the store
 * goes through it, single statements too.
 */
export type WriteTransaction = <T>(work: (trx: Kysely<Database>) => Promise<T>) => Promise<T>;

export interface SQLStoreOptions {
  write: WriteTransaction;
  /**
   * Whether a transaction that reads and then writes must lock the rows it reads (SELECT … FOR
   * UPDATE, PostgreSQL), or the write transaction keeps every other writer out anyway (SQLite's
   * write lock, taken at BEGIN).
   */
  lockRows: boolean;
  /** Closes the database. */
  close: () => Promise<void>;
  /**
   * The dialect's own `consumeRefreshToken`, when it has a faster way to make it atomic than a write
   * transaction with row locks (PostgreSQL: postgres-refresh.ts). Default: the write transaction.
   */
  consumeRefreshToken?: Store['consumeRefreshToken'];
}

/** `revokedReason` of the sessions a password change ends. */
const PASSWORD_CHANGED = 'password_changed';

export class SQLStore implements Store {
  readonly #db: Kysely<Database>;
  readonly #write: WriteTransaction;
  readonly #lockRows: boolean;
  readonly #close: () => Promise<void>;
  readonly #consumeRefreshToken: Store['consumeRefreshToken'] | undefined;
  readonly #userById;
  readonly #userByEmail;
  readonly #refreshTokenByHash;
  readonly #sessionById;

  constructor(db: Kysely<Database>, options: SQLStoreOptions) {
    this.#db = db;
    this.#write = options.write;
    this.#lockRows = options.lockRows;
    this.#close = options.close;
    this.#consumeRefreshToken = options.consumeRefreshToken;
    this.#userById = prepareQuery(['id'], ({ id }) => this.#selectUsers().where('users.id', '=', id));
    this.#userByEmail = prepareQuery(['email'], ({ email }) =>
      this.#selectUsers().where('users.email', '=', email),
    );
    this.#refreshTokenByHash = prepareQuery(['hash'], ({ hash }) =>
      db
        .selectFrom('refresh_tokens')
        .selectAll()
        .where('hash', '=', hash)
        .$if(this.#lockRows, (query) => query.forUpdate()),
    );
    this.#sessionById = prepareQuery(['id'], ({ id }) =>
      db
        .selectFrom('sessions')
        .selectAll()
        .where('id', '=', id)
        .$if(this.#lockRows, (query) => query.forUpdate()),
    );
  }

  async createUser(user: NewUser): Promise<UserRecord> {
    try {
      await this.#write((trx) =>
        trx
          .insertInto('users')
          .values({
            id: user.id,
            email: user.email,
            password_hash: user.passwordHash,
            created_at: user.createdAt,
            disabled_at: null,
          })
          .execute(),
      );
    } catch (error) {
      // The id is unique too; only a taken email is the caller's conflict.
      if (isUniqueViolation(error) && (await this.findUserByEmail(user.email)) !== null) {
        throw new StoreError('ERR_STORE_CONFLICT', 'email is taken', { cause: error });
      }
      throw error;
    }
    return {
      id: user.id,
      email: user.email,
      passwordHash: user.passwordHash,
      createdAt: user.createdAt,
      disabledAt: null,
      roles: [],
    };
  }

  async findUserByEmail(email: string): Promise<UserRecord | null> {
    const { rows } = await this.#db.executeQuery(this.#userByEmail({ email }));
    return toUserRecords(rows)[0] ?? null;
  }

  async findUserById(id: string): Promise<UserRecord | null> {
    const { rows } = await this.#db.executeQuery(this.#userById({ id }));
    return toUserRecords(rows)[0] ?? null;
  }

  async listUsers(): Promise<UserRecord[]> {
    const rows = await this.#selectUsers().orderBy('users.created_at').orderBy('users.id').execute();
    return toUserRecords(rows);
  }

  rehashPassword(userId: string, verifiedHash: string, passwordHash: string): Promise<boolean> {
    return this.#write((trx) => replacePasswordHash(trx, userId, verifiedHash, passwordHash));
  }

  async changePassword(
    userId: string,
    verifiedHash: string,
    passwordHash: string,
    keepSessionId: string | null,
    now: number,
  ): Promise<string[] | null> {
    return this.#write(async (trx) => {
      if (!(await replacePasswordHash(trx, userId, verifiedHash, passwordHash))) return null;
      return revokeLiveSessions(trx, userId, now, PASSWORD_CHANGED, keepSessionId);
    });
  }

  async setUserDisabled(userId: string, disabledAt: number | null): Promise<boolean> {
    const result = await this.#write((trx) =>
      trx.updateTable('users').set({ disabled_at: disabledAt }).where('id', '=', userId).executeTakeFirst(),
    );
    return result.numUpdatedRows > 0n;
  }

  async addUserRole(userId: string, role: string): Promise<boolean | null> {
    return this.#write(async (trx) => {
      if (!(await userExists(trx, userId))) return null;
      const result = await trx
        .insertInto('user_roles')
        .values({ user_id: userId, role })
        .onConflict((conflict) => conflict.columns(['user_id', 'role']).doNothing())
        .executeTakeFirst();
      return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
    });
  }

  async removeUserRole(userId: string, role: string): Promise<boolean | null> {
    return this.#write(async (trx) => {
      const result = await trx
        .deleteFrom('user_roles')
        .where('user_id', '=', userId)
        .where('role', '=', role)
        .executeTakeFirst();
      if (result.numDeletedRows > 0n) return true;
      return (await userExists(trx, userId)) ? false : null;
    });
  }

  async createSession(session: NewSession, refreshTokenHash: string): Promise<SessionRecord> {
    await this.#write((trx) => insertSession(trx, session, refreshTokenHash));
    return newSessionRecord(session);
  }

  async createLoginSession(
    session: NewSession,
    refreshTokenHash: string,
    verifiedHash: string,
  ): Promise<SessionRecord | null> {
    return this.#write(async (trx) => {
      // Locked with the session insert, so a password change waits for this login or sees it.
      const user = await trx
        .selectFrom('users')
        .select(['password_hash', 'disabled_at'])
        .where('id', '=', session.userId)
        .$if(this.#lockRows, (query) => query.forUpdate())
        .executeTakeFirst();
      if (user === undefined || user.disabled_at !== null || user.password_hash !== verifiedHash) return null;
      await insertSession(trx, session, refreshTokenHash);
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
      .selectAll()
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
      return applyDecision(trx, token, session, decide({ token: { ...token }, session: { ...session } }));
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

  async recordFailure(key: string, windowMs: number, now: number): Promise<CounterState> {
    // One statement, so concurrent failures never lose a count. `excluded` is the row that would have
    // been inserted: a fresh window starting now.
    const row = await this.#write((trx) =>
      trx
        .insertInto('counters')
        .values({ key, count: 1, window_started_at: now, last_at: now, expires_at: now + windowMs })
        .onConflict((conflict) =>
          conflict.column('key').doUpdateSet((eb) => {
            const ended = eb('counters.expires_at', '<=', eb.ref('excluded.last_at'));
            return {
              count: eb
                .case()
                .when(ended)
                .then(eb.ref('excluded.count'))
                .else(eb('counters.count', '+', 1))
                .end(),
              window_started_at: eb
                .case()
                .when(ended)
                .then(eb.ref('excluded.window_started_at'))
                .else(eb.ref('counters.window_started_at'))
                .end(),
              expires_at: eb
                .case()
                .when(ended)
                .then(eb.ref('excluded.expires_at'))
                .else(eb.ref('counters.expires_at'))
                .end(),
              // The later of the two: concurrent failures (other connections, other instances) commit
              // in any order. CASE rather than max()/greatest(), which SQLite and PostgreSQL spell
              // differently.
              last_at: eb
                .case()
                .when(eb('counters.last_at', '>', eb.ref('excluded.last_at')))
                .then(eb.ref('counters.last_at'))
                .else(eb.ref('excluded.last_at'))
                .end(),
            };
          }),
        )
        .returningAll()
        .executeTakeFirstOrThrow(),
    );
    return toCounterState(row);
  }

  async readCounter(key: string, now: number): Promise<CounterState | null> {
    const row = await this.#db.selectFrom('counters').selectAll().where('key', '=', key).executeTakeFirst();
    return row === undefined || now >= row.expires_at ? null : toCounterState(row);
  }

  async clearCounter(key: string): Promise<void> {
    await this.#write((trx) => trx.deleteFrom('counters').where('key', '=', key).execute());
  }

  async deleteExpiredCounters(before: number): Promise<number> {
    const result = await this.#write((trx) =>
      trx.deleteFrom('counters').where('expires_at', '<', before).executeTakeFirst(),
    );
    return Number(result.numDeletedRows);
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    const rows = await this.#db
      .selectFrom('signing_keys')
      .selectAll()
      .orderBy('created_at')
      .orderBy('kid')
      .execute();
    return rows.map(toSigningKeyRecord);
  }

  async insertSigningKey(key: SigningKeyRecord): Promise<boolean> {
    const result = await this.#write((trx) =>
      trx
        .insertInto('signing_keys')
        .values(fromSigningKeyRecord(key))
        .onConflict((conflict) => conflict.column('kid').doNothing())
        .executeTakeFirst(),
    );
    return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
  }

  async revokeSigningKey(kid: string, now: number, replacement: SigningKeyRecord | null): Promise<boolean> {
    return this.#write(async (trx) => {
      const revoked = await trx
        .updateTable('signing_keys')
        .set({ revoked_at: now })
        .where('kid', '=', kid)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      if (revoked.numUpdatedRows === 0n) return false;
      // A taken kid throws here and rolls the revocation back with it.
      if (replacement !== null)
        await trx.insertInto('signing_keys').values(fromSigningKeyRecord(replacement)).execute();
      return true;
    });
  }

  async deleteSigningKeys(kids: readonly string[]): Promise<number> {
    if (kids.length === 0) return 0;
    const result = await this.#write((trx) =>
      trx.deleteFrom('signing_keys').where('kid', 'in', kids).executeTakeFirst(),
    );
    return Number(result.numDeletedRows);
  }

  async ensureSecret(name: string, value: string): Promise<string> {
    await this.#write((trx) =>
      trx
        .insertInto('secrets')
        .values({ name, value })
        .onConflict((conflict) => conflict.column('name').doNothing())
        .execute(),
    );
    const row = await this.#db
      .selectFrom('secrets')
      .select('value')
      .where('name', '=', name)
      .executeTakeFirstOrThrow();
    return row.value;
  }

  async ping(): Promise<void> {
    try {
      await sql`select 1`.execute(this.#db);
    } catch (error) {
      throw new StoreError('ERR_STORE_UNAVAILABLE', 'the database does not answer', { cause: error });
    }
  }

  close(): Promise<void> {
    return this.#close();
  }

  /**
   * Users with their roles in one query: login and refresh read the user anyway, and learn the roles
   * for the `roles` claim with it. The rows of one user are adjacent, as toUserRecords needs them.
   */
  #selectUsers() {
    return this.#db
      .selectFrom('users')
      .leftJoin('user_roles', 'user_roles.user_id', 'users.id')
      .selectAll('users')
      .select('user_roles.role');
  }
}

async function applyDecision(
  trx: Kysely<Database>,
  token: RefreshTokenRecord,
  session: SessionRecord,
  decision: RefreshDecision,
): Promise<RefreshOutcome> {
  requireApplicable(token, decision);
  switch (decision.action) {
    case 'rotate': {
      await trx
        .updateTable('refresh_tokens')
        .set({ rotated_at: decision.now, successor_hash: decision.successorHash })
        .where('hash', '=', token.hash)
        .execute();
      await trx
        .insertInto('refresh_tokens')
        .values({
          hash: decision.successorHash,
          session_id: session.id,
          created_at: decision.now,
          rotated_at: null,
          successor_hash: null,
        })
        .execute();
      await trx
        .updateTable('sessions')
        .set({ last_used_at: decision.now, idle_expires_at: decision.idleExpiresAt })
        .where('id', '=', session.id)
        .execute();
      return {
        action: 'rotate',
        session: { ...session, lastUsedAt: decision.now, idleExpiresAt: decision.idleExpiresAt },
      };
    }
    case 'repeat':
      return { action: 'repeat', session, successorHash: token.successorHash as string };
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

async function revokeLiveSessions(
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

async function userExists(db: Kysely<Database>, userId: string): Promise<boolean> {
  const row = await db.selectFrom('users').select('id').where('id', '=', userId).executeTakeFirst();
  return row !== undefined;
}

/** Replaces the password hash only while it is still `verifiedHash`; true when it did. */
async function replacePasswordHash(
  db: Kysely<Database>,
  userId: string,
  verifiedHash: string,
  passwordHash: string,
): Promise<boolean> {
  const result = await db
    .updateTable('users')
    .set({ password_hash: passwordHash })
    .where('id', '=', userId)
    .where('password_hash', '=', verifiedHash)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

async function insertSession(
  trx: Kysely<Database>,
  session: NewSession,
  refreshTokenHash: string,
): Promise<void> {
  await trx
    .insertInto('sessions')
    .values({
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
    })
    .execute();
  await trx
    .insertInto('refresh_tokens')
    .values({
      hash: refreshTokenHash,
      session_id: session.id,
      created_at: session.createdAt,
      rotated_at: null,
      successor_hash: null,
    })
    .execute();
}
