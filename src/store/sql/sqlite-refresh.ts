/**
 * `consumeRefreshToken` on SQLite as one synchronous transaction on the connection itself: BEGIN
 * IMMEDIATE, one SELECT of the token with its session and user, `decide`, the decision's writes,
 * COMMIT. better-sqlite3 runs every statement synchronously anyway; going through Kysely made each
 * of the six statements an asynchronous round of its own, which cost the event loop more than SQLite
 * took to run them. The write lock, taken at BEGIN, keeps every other writer out until COMMIT, so
 * `decide` judges exactly the rows it changes.
 */
import type { Database as BetterSqlite3Database } from 'better-sqlite3';
import type { RefreshDecision, RefreshOutcome, RefreshTokenState } from '../types.js';
import { requireApplicable } from './refresh-rules.js';
import { type StateRow as RefreshStateRow, readStateSQL, toOwner, toState } from './refresh-state.js';

/** Runs `work` inside BEGIN IMMEDIATE … COMMIT and resolves once the commit is durable (sqlite.ts). */
export type SyncWriteTransaction = <T>(work: (connection: BetterSqlite3Database) => T) => Promise<T>;

/** The owner's roles as a JSON array: SQLite has no array type. */
type StateRow = RefreshStateRow<string>;

const READ_STATE = readStateSQL((query) => `(SELECT json_group_array(role) FROM (${query}))`, '?');

const MARK_ROTATED = 'UPDATE refresh_tokens SET rotated_at = ?, successor_hash = ? WHERE hash = ?';
const INSERT_SUCCESSOR = `
  INSERT INTO refresh_tokens (hash, session_id, created_at, rotated_at, successor_hash)
  VALUES (?, ?, ?, NULL, NULL)`;
const TOUCH_SESSION = 'UPDATE sessions SET last_used_at = ?, idle_expires_at = ? WHERE id = ?';
/** A revoked session keeps its first revocation: the time the feed already announced. */
const REVOKE_SESSION = `
  UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL`;

const ownerOf = (row: StateRow) => toOwner(row, () => JSON.parse(row.owner_roles) as string[]);

export function createSQLiteRefresh(connection: BetterSqlite3Database, writeNow: SyncWriteTransaction) {
  const readState = connection.prepare<[string], StateRow>(READ_STATE);
  const markRotated = connection.prepare(MARK_ROTATED);
  const insertSuccessor = connection.prepare(INSERT_SUCCESSOR);
  const touchSession = connection.prepare(TOUCH_SESSION);
  const revokeSession = connection.prepare(REVOKE_SESSION);

  const apply = (state: RefreshTokenState, row: StateRow, decision: RefreshDecision): RefreshOutcome => {
    const { token, session } = state;
    requireApplicable(token, decision);
    switch (decision.action) {
      case 'rotate': {
        const { now, successorHash, idleExpiresAt } = decision;
        markRotated.run(now, successorHash, token.hash);
        insertSuccessor.run(successorHash, session.id, now);
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

  return function consumeRefreshToken(
    hash: string,
    decide: (state: RefreshTokenState) => RefreshDecision,
  ): Promise<RefreshOutcome | null> {
    return writeNow(() => {
      const row = readState.get(hash);
      if (row === undefined) return null;
      const state = toState(row);
      // Copies: what `decide` does to its argument must not leak into what is written.
      const decision = decide({ token: { ...state.token }, session: { ...state.session } });
      return apply(state, row, decision);
    });
  };
}
