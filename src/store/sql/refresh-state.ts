/**
 * A refresh token's state as each dialect reads it in one SELECT (sqlite-session-writes.ts,
 * postgres-refresh.ts): the token, its session and the session's user with their roles, which a
 * refresh that hands out a token needs anyway.
 */
import type { Selectable } from 'kysely';
import type { RefreshTokenState, UserRecord } from '../types.js';
import { toRefreshTokenRecord, toSessionRecord } from './rows.js';
import type { SessionsTable } from './schema.js';

/**
 * The session's columns as stored (its id null for a token without one), the token's beside them, and
 * the session's user (owner_id null when the user is gone), with their roles as `Roles` says.
 */
export type StateRow<Roles> = Omit<Selectable<SessionsTable>, 'id'> & {
  id: string | null;
  hash: string;
  session_id: string;
  token_created_at: number;
  rotated_at: number | null;
  successor_hash: string | null;
  owner_id: string | null;
  owner_email: string;
  owner_password_hash: string;
  owner_created_at: number;
  owner_disabled_at: number | null;
  owner_roles: Roles;
};

/**
 * The SELECT of a token's state by its hash: `roles` makes the dialect's one value of the owner's
 * roles out of the query that lists them, `parameter` is its placeholder for the hash.
 */
export function readStateSQL(roles: (query: string) => string, parameter: string): string {
  return `
  SELECT t.hash, t.session_id, t.created_at AS token_created_at, t.rotated_at, t.successor_hash,
         s.id, s.user_id, s.created_at, s.last_used_at, s.expires_at, s.idle_expires_at, s.user_agent, s.ip,
         s.revoked_at, s.revoked_reason,
         u.id AS owner_id, u.email AS owner_email, u.password_hash AS owner_password_hash,
         u.created_at AS owner_created_at, u.disabled_at AS owner_disabled_at,
         ${roles('SELECT r.role FROM user_roles r WHERE r.user_id = u.id')} AS owner_roles
    FROM refresh_tokens t LEFT JOIN sessions s ON s.id = t.session_id LEFT JOIN users u ON u.id = s.user_id
   WHERE t.hash = ${parameter}`;
}

export function toState(row: StateRow<unknown>): RefreshTokenState {
  const { id, hash, session_id, token_created_at, rotated_at, successor_hash } = row;
  if (id === null) throw new Error('refresh token without its session');
  return {
    token: toRefreshTokenRecord({
      hash,
      session_id,
      created_at: token_created_at,
      rotated_at,
      successor_hash,
    }),
    session: toSessionRecord({ ...row, id }),
  };
}

/** The session's user with `roles` (as the dialect decoded them); null when the user is gone. */
export function toOwner(row: StateRow<unknown>, roles: () => string[]): UserRecord | null {
  if (row.owner_id === null) return null;
  return {
    id: row.owner_id,
    email: row.owner_email,
    passwordHash: row.owner_password_hash,
    createdAt: row.owner_created_at,
    disabledAt: row.owner_disabled_at,
    // Code-unit order, as toUserRecords sorts them on every other path: no collation decides it.
    roles: roles().sort(),
  };
}
