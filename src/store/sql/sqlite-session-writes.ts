/**
 * The hottest writes on SQLite, a refresh and a login's new session, each as one synchronous
 * transaction on the connection itself. better-sqlite3 runs every statement synchronously anyway;
 * going through Kysely made each statement an asynchronous round of its own, which cost the event
 * loop more than SQLite took to run them. The write lock, taken at BEGIN IMMEDIATE, keeps every other
 * writer out until COMMIT, so what a transaction reads is what it changes.
 *
 * A refresh: one SELECT of the token with its session and user, `decide`, the decision's writes.
 */
import type { Database as BetterSqlite3Database } from 'better-sqlite3';
import { newSessionRecord } from '../session-record.js';
import type { RefreshDecision, RefreshOutcome, RefreshTokenState, SessionStore } from '../types.js';
import { requireApplicable } from './refresh-rules.js';
import { type StateRow as RefreshStateRow, readStateSQL, toOwner, toState } from './refresh-state.js';

/**
 * Runs `work` inside BEGIN IMMEDIATE … COMMIT and resolves once the commit is durable (sqlite.ts).
 * `work` must not be async: what it did after its first await would run outside the transaction.
 */
export type SyncWriteTransaction = <T>(
  work: (connection: BetterSqlite3Database) => T extends PromiseLike<unknown> ? never : T,
) => Promise<T>;

/** The owner's roles as a JSON array: SQLite has no array type. */
type StateRow = RefreshStateRow<string>;

const READ_STATE = readStateSQL((query) => `(SELECT json_group_array(role) FROM (${query}))`, '?');

const LOGIN_CHECK = 'SELECT password_hash, disabled_at FROM users WHERE id = ?';
const INSERT_SESSION = `
  INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, idle_expires_at, user_agent, ip,
                        revoked_at, revoked_reason)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)`;
const INSERT_TOKEN = `
  INSERT INTO refresh_tokens (hash, session_id, created_at, rotated_at, successor_hash)
  VALUES (?, ?, ?, NULL, NULL)`;
const MARK_ROTATED = 'UPDATE refresh_tokens SET rotated_at = ?, successor_hash = ? WHERE hash = ?';
const TOUCH_SESSION = 'UPDATE sessions SET last_used_at = ?, idle_expires_at = ? WHERE id = ?';
/** A revoked session keeps its first revocation: the time the feed already announced. */
const REVOKE_SESSION = `
  UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL`;

const ownerOf = (row: StateRow) => toOwner(row, () => JSON.parse(row.owner_roles) as string[]);

export function createSQLiteSessionWrites(
  connection: BetterSqlite3Database,
  writeNow: SyncWriteTransaction,
): Pick<SessionStore, 'consumeRefreshToken' | 'createLoginSession'> {
  const loginCheck = connection.prepare<[string], { password_hash: string; disabled_at: number | null }>(
    LOGIN_CHECK,
  );
  const insertSession = connection.prepare(INSERT_SESSION);
  const readState = connection.prepare<[string], StateRow>(READ_STATE);
  const markRotated = connection.prepare(MARK_ROTATED);
  const insertToken = connection.prepare(INSERT_TOKEN);
  const touchSession = connection.prepare(TOUCH_SESSION);
  const revokeSession = connection.prepare(REVOKE_SESSION);

  const apply = (state: RefreshTokenState, row: StateRow, decision: RefreshDecision): RefreshOutcome => {
    const { token, session } = state;
    requireApplicable(token, decision);
    switch (decision.action) {
      case 'rotate': {
        const { now, successorHash, idleExpiresAt } = decision;
        markRotated.run(now, successorHash, token.hash);
        insertToken.run(successorHash, session.id, now);
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
        revokeSession.run(decision.now, decision.reason, session.id);
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

    createLoginSession(session, refreshTokenHash, verifiedHash) {
      return writeNow(() => {
        const user = loginCheck.get(session.userId);
        if (user === undefined || user.disabled_at !== null || user.password_hash !== verifiedHash)
          return null;
        const { id, userId, createdAt, lastUsedAt, expiresAt, idleExpiresAt, userAgent, ip } = session;
        insertSession.run(id, userId, createdAt, lastUsedAt, expiresAt, idleExpiresAt, userAgent, ip);
        insertToken.run(refreshTokenHash, id, createdAt);
        return newSessionRecord(session);
      });
    },
  };
}
