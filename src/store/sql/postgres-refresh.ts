/**
 * `consumeRefreshToken` on PostgreSQL in two statements and no transaction around them: a refresh is
 * the hottest write there is, and a transaction (BEGIN, lock the token, lock the session, three
 * writes, COMMIT) costs seven round trips to the server. Here:
 *
 * 1. One SELECT reads the token with its session and user (a consistent snapshot), and `decide` judges it.
 * 2. A decision that writes runs as one statement, atomic on its own: a data-modifying CTE that first
 *    locks the token and session rows (FOR UPDATE) only if they still hold exactly what `decide` saw,
 *    and then makes every write of the decision. If they changed in between (another instance rotated
 *    the token, revoked the session), it matches nothing and writes nothing, and the whole thing runs
 *    again on what is there now.
 *
 * So every decision is carried out on the state it was made on, as under the row locks of a
 * transaction: the outcome is one a serial order of the calls gives. `decide` may be asked more than
 * once when calls race; it is pure. Decisions that write nothing (repeat, reject) stand on the
 * snapshot they were read from.
 */
import { CompiledQuery, type Kysely } from 'kysely';
import pg from 'pg';
import type { RefreshDecision, RefreshOutcome, RefreshTokenState, UserRecord } from '../types.js';
import { requireApplicable } from './refresh-rules.js';
import { type StateRow as RefreshStateRow, readStateSQL, toOwner, toState } from './refresh-state.js';
import type { Database } from './schema.js';

/** Rounds of read, decide and write before giving up on a token that keeps changing underneath. */
const MAX_ATTEMPTS = 10;
/** A deadlock (or serialization failure) ends the statement, which wrote nothing: it runs again. */
const RETRYABLE_SQLSTATES: ReadonlySet<string> = new Set(['40001', '40P01']);

type StateRow = RefreshStateRow<string[]>;

const READ_STATE = readStateSQL((query) => `ARRAY(${query})`, '$1');

/**
 * The rows as `decide` saw them, locked: $1 the token's hash, $2–$3 its mutable columns, $4–$8 the
 * session's. `IS NOT DISTINCT FROM` compares nulls as values. A row changed meanwhile by a transaction
 * this one waited for is checked again in its new version (READ COMMITTED), so a match is current.
 */
const UNCHANGED = `
  current AS MATERIALIZED (
    SELECT t.hash, t.session_id
      FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
     WHERE t.hash = $1
       AND t.rotated_at IS NOT DISTINCT FROM $2::bigint AND t.successor_hash IS NOT DISTINCT FROM $3::text
       AND s.revoked_at IS NOT DISTINCT FROM $4::bigint AND s.revoked_reason IS NOT DISTINCT FROM $5::text
       AND s.last_used_at = $6::bigint AND s.idle_expires_at = $7::bigint AND s.expires_at = $8::bigint
       FOR UPDATE OF t, s
  )`;

/** $9 now, $10 the successor's hash, $11 the session's new idle expiry. */
const ROTATE = `
  WITH ${UNCHANGED},
  rotated AS (
    UPDATE refresh_tokens SET rotated_at = $9, successor_hash = $10
     WHERE hash IN (SELECT hash FROM current) RETURNING session_id
  ),
  successor AS (
    INSERT INTO refresh_tokens (hash, session_id, created_at, rotated_at, successor_hash)
    SELECT $10, session_id, $9, NULL, NULL FROM rotated
  ),
  touched AS (
    UPDATE sessions SET last_used_at = $9, idle_expires_at = $11
     WHERE id IN (SELECT session_id FROM current)
  )
  SELECT count(*)::int AS matched FROM current`;

/** $9 now, $10 the reason. */
const REVOKE = `
  WITH ${UNCHANGED},
  revoked AS (
    UPDATE sessions SET revoked_at = $9, revoked_reason = $10
     WHERE id IN (SELECT session_id FROM current) AND revoked_at IS NULL
  )
  SELECT count(*)::int AS matched FROM current`;

function unchangedParameters({ token, session }: RefreshTokenState): unknown[] {
  return [
    token.hash,
    token.rotatedAt,
    token.successorHash,
    session.revokedAt,
    session.revokedReason,
    session.lastUsedAt,
    session.idleExpiresAt,
    session.expiresAt,
  ];
}

const isRetryable = (error: unknown): boolean =>
  error instanceof pg.DatabaseError && error.code !== undefined && RETRYABLE_SQLSTATES.has(error.code);

export function createPostgresRefresh(db: Kysely<Database>) {
  /** Runs a guarded write; false when the rows had changed (or it lost a deadlock) and nothing was written. */
  const writeIfUnchanged = async (text: string, parameters: unknown[]): Promise<boolean> => {
    try {
      const { rows } = await db.executeQuery<{ matched: number }>(CompiledQuery.raw(text, parameters));
      return rows[0]?.matched === 1;
    } catch (error) {
      if (isRetryable(error)) return false;
      throw error;
    }
  };

  /** Carries `decision` out; null when the state changed since it was read and it must be made again. */
  const apply = async (
    state: RefreshTokenState,
    user: UserRecord | null,
    decision: RefreshDecision,
  ): Promise<RefreshOutcome | null> => {
    const { token, session } = state;
    requireApplicable(token, decision);
    switch (decision.action) {
      case 'rotate': {
        const { now, successorHash, idleExpiresAt } = decision;
        const parameters = [...unchangedParameters(state), now, successorHash, idleExpiresAt];
        if (!(await writeIfUnchanged(ROTATE, parameters))) return null;
        return { action: 'rotate', session: { ...session, lastUsedAt: now, idleExpiresAt }, user };
      }
      case 'repeat':
        return { action: 'repeat', session, user, successorHash: token.successorHash as string };
      case 'revoke': {
        // A revoked session keeps its first revocation: nothing to write.
        if (session.revokedAt !== null) return { action: 'revoke', session };
        const parameters = [...unchangedParameters(state), decision.now, decision.reason];
        if (!(await writeIfUnchanged(REVOKE, parameters))) return null;
        return {
          action: 'revoke',
          session: { ...session, revokedAt: decision.now, revokedReason: decision.reason },
        };
      }
      case 'reject':
        return { action: 'reject', session };
    }
  };

  return async function consumeRefreshToken(
    hash: string,
    decide: (state: RefreshTokenState) => RefreshDecision,
  ): Promise<RefreshOutcome | null> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const { rows } = await db.executeQuery<StateRow>(CompiledQuery.raw(READ_STATE, [hash]));
      const row = rows[0];
      if (row === undefined) return null;
      const state = toState(row);
      // Copies: what `decide` does to its argument must not leak into what is written.
      const decision = decide({ token: { ...state.token }, session: { ...state.session } });
      const outcome = await apply(
        state,
        toOwner(row, () => [...row.owner_roles]),
        decision,
      );
      if (outcome !== null) return outcome;
    }
    throw new Error(`the refresh token changed under ${MAX_ATTEMPTS} attempts in a row to use it`);
  };
}
