/** Row ↔ record mapping: the one place that knows both the snake_case columns and the domain's names. */
import type { Selectable } from 'kysely';
import type {
  CounterState,
  RefreshTokenRecord,
  SessionRecord,
  SigningKeyRecord,
  UserRecord,
} from '../types.js';
import type {
  CountersTable,
  RefreshTokensTable,
  SessionsTable,
  SigningKeysTable,
  UsersTable,
} from './schema.js';

/** A user row LEFT JOINed with its roles: one row per role, or one with a null `role` for none. */
export type UserRoleRow = Selectable<UsersTable> & { role: string | null };

/** Users from joined rows, in the order of their first rows; the rows of one user must be adjacent. */
export function toUserRecords(rows: readonly UserRoleRow[]): UserRecord[] {
  const users: UserRecord[] = [];
  let current: UserRecord | undefined;
  for (const row of rows) {
    if (current?.id !== row.id) {
      current = {
        id: row.id,
        email: row.email,
        passwordHash: row.password_hash,
        createdAt: row.created_at,
        disabledAt: row.disabled_at,
        roles: [],
      };
      users.push(current);
    }
    if (row.role !== null) current.roles.push(row.role);
  }
  // Sorted here rather than in SQL: the default sort is code-unit order, which no collation changes.
  for (const user of users) user.roles.sort();
  return users;
}

export function toSessionRecord(row: Selectable<SessionsTable>): SessionRecord {
  return {
    id: row.id,
    userId: row.user_id,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    expiresAt: row.expires_at,
    idleExpiresAt: row.idle_expires_at,
    userAgent: row.user_agent,
    ip: row.ip,
    revokedAt: row.revoked_at,
    revokedReason: row.revoked_reason,
  };
}

export function toRefreshTokenRecord(row: Selectable<RefreshTokensTable>): RefreshTokenRecord {
  return {
    hash: row.hash,
    sessionId: row.session_id,
    createdAt: row.created_at,
    rotatedAt: row.rotated_at,
    successorHash: row.successor_hash,
  };
}

export function toCounterState(row: Selectable<CountersTable>): CounterState {
  return {
    count: row.count,
    windowStartedAt: row.window_started_at,
    lastAt: row.last_at,
    expiresAt: row.expires_at,
  };
}

export function toSigningKeyRecord(row: Selectable<SigningKeysTable>): SigningKeyRecord {
  return {
    kid: row.kid,
    alg: row.alg,
    publicJwk: row.public_jwk,
    privateKey: row.private_key,
    createdAt: row.created_at,
    activatesAt: row.activates_at,
    retiresAt: row.retires_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
  };
}

export function fromSigningKeyRecord(key: SigningKeyRecord): Selectable<SigningKeysTable> {
  return {
    kid: key.kid,
    alg: key.alg,
    public_jwk: key.publicJwk,
    private_key: key.privateKey,
    created_at: key.createdAt,
    activates_at: key.activatesAt,
    retires_at: key.retiresAt,
    expires_at: key.expiresAt,
    revoked_at: key.revokedAt,
  };
}
