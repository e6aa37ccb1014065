/**
 * The hottest writes on SQLite, a refresh and a login's new session, each run synchronously on the
 * connection itself, as a transaction of its own or a savepoint of one shared with the others asked
 * for in the same turn of the event loop (shared-commits.ts). better-sqlite3 runs every statement
 * synchronously anyway; going through Kysely made each statement an asynchronous round of its own,
 * which cost the event loop more than SQLite took to run them. The write lock, taken at BEGIN
 * IMMEDIATE, keeps every other writer out until COMMIT, so what a transaction reads is what it changes.
 *
 * A refresh: one SELECT of the token with its session and user, `decide`, the decision's writes.
 */
import type { Database as BetterSqlite3Database, Statement } from 'better-sqlite3';
import { newSessionRecord } from '../session-record.js';
import type { RefreshDecision, RefreshOutcome, RefreshTokenState, SessionStore } from '../types.js';
import type { PreparedQuery } from './prepared-query.js';
import { requireApplicable } from './refresh-rules.js';
import { type StateRow as RefreshStateRow, readStateSQL, toOwner, toState } from './refresh-state.js';
import { endingFor, mayEndSessions, type SessionQueries, stillVerified } from './session-queries.js';

/**
 * Runs `work` under SQLite's write lock (BEGIN IMMEDIATE), rolled back alone when it throws, and
 * resolves once the commit holding it is durable (sqlite.ts). `work` must not be async: what it did
 * after its first await would run outside the transaction.
 */
export type SyncWriteTransaction = <T>(
  work: (connection: BetterSqlite3Database) => T extends PromiseLike<unknown> ? never : T,
) => Promise<T>;

/** The owner's roles as a JSON array: SQLite has no array type. */
type StateRow = RefreshStateRow<string>;

const READ_STATE = readStateSQL((query) => `(SELECT json_group_array(role) FROM (${query}))`, '?');

const MARK_ROTATED = 'UPDATE refresh_tokens SET rotated_at = ?, successor_hash = ? WHERE hash = ?';
const TOUCH_SESSION = 'UPDATE sessions SET last_used_at = ?, idle_expires_at = ? WHERE id = ?';

const ownerOf = (row: StateRow) => toOwner(row, () => JSON.parse(row.owner_roles) as string[]);

/**
 * A prepared query of the shared SQL code (session-queries.ts), run synchronously on the connection:
 * its SQL is the same for every run, so its statement is prepared at the first.
 */
function onConnection<Name extends string, Row>(
  connection: BetterSqlite3Database,
  query: PreparedQuery<Name, Row>,
) {
  let statement: Statement<unknown[], Row> | undefined;
  const bind = (values: Readonly<Record<Name, unknown>>) => {
    const { sql, parameters } = query(values);
    statement ??= connection.prepare<unknown[], Row>(sql);
    return { statement, parameters: [...parameters] };
  };
  return {
    get(values: Readonly<Record<Name, unknown>>): Row | undefined {
      const { statement, parameters } = bind(values);
      return statement.get(parameters);
    },
    run(values: Readonly<Record<Name, unknown>>): void {
      const { statement, parameters } = bind(values);
      statement.run(parameters);
    },
    all(values: Readonly<Record<Name, unknown>>): Row[] {
      const { statement, parameters } = bind(values);
      return statement.all(parameters);
    },
  };
}

export function createSQLiteSessionWrites(
  connection: BetterSqlite3Database,
  queries: SessionQueries,
  writeNow: SyncWriteTransaction,
): Pick<SessionStore, 'consumeRefreshToken' | 'createLoginSession'> {
  const loginCheck = onConnection(connection, queries.loginCheck);
  const insertSession = onConnection(connection, queries.insertSession);
  const insertToken = onConnection(connection, queries.insertToken);
  const revokeIfLive = onConnection(connection, queries.revokeIfLive);
  const countUnrevoked = onConnection(connection, queries.countUnrevoked);
  const endLeastRecentlyUsed = onConnection(connection, queries.endLeastRecentlyUsed);
  const readState = connection.prepare<[string], StateRow>(READ_STATE);
  const markRotated = connection.prepare(MARK_ROTATED);
  const touchSession = connection.prepare(TOUCH_SESSION);

  const apply = (state: RefreshTokenState, row: StateRow, decision: RefreshDecision): RefreshOutcome => {
    const { token, session } = state;
    requireApplicable(token, decision);
    switch (decision.action) {
      case 'rotate': {
        const { now, successorHash, idleExpiresAt } = decision;
        markRotated.run(now, successorHash, token.hash);
        insertToken.run({ hash: successorHash, sessionId: session.id, createdAt: now });
        touchSession.run(now, idleExpiresAt, session.id);
        return {
          action: 'rotate',
          session: { ...session, lastUsedAt: now, idleExpiresAt },
          user: ownerOf(row),
        };
      }
      case 'repeat':
        return {
          action: 'repeat',
          session,
          user: ownerOf(row),
          successorHash: token.successorHash as string,
        };
      case 'revoke':
        if (session.revokedAt !== null) return { action: 'revoke', session };
        revokeIfLive.run({ id: session.id, now: decision.now, reason: decision.reason });
        return {
          action: 'revoke',
          session: { ...session, revokedAt: decision.now, revokedReason: decision.reason },
        };
      case 'reject':
        return { action: 'reject', session };
    }
  };

  return {
    consumeRefreshToken(hash, decide) {
      return writeNow(() => {
        const row = readState.get(hash);
        if (row === undefined) return null;
        const state = toState(row);
        // Copies: what `decide` does to its argument must not leak into what is written.
        const decision = decide({ token: { ...state.token }, session: { ...state.session } });
        return apply(state, row, decision);
      });
    },

    createLoginSession(session, refreshTokenHash, verifiedHash, limit) {
      return writeNow(() => {
        if (!stillVerified(loginCheck.get({ id: session.userId }), verifiedHash)) return null;
        const ending = endingFor(session, limit);
        const ended = mayEndSessions(countUnrevoked.get(ending), ending)
          ? endLeastRecentlyUsed.all(ending).map((row) => row.id)
          : [];
        insertSession.run(session);
        insertToken.run({ hash: refreshTokenHash, sessionId: session.id, createdAt: session.createdAt });
        return { session: newSessionRecord(session), ended };
      });
    },
  };
}
