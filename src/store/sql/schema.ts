/**
 * The tables as Kysely sees them. Column names are snake_case as stored; times are integer milliseconds
 * since the epoch (`bigint` in the migrations). Every dialect's wiring delivers them as JS numbers: a
 * millisecond timestamp fits a double exactly.
 */

export interface Database {
  users: UsersTable;
  user_roles: UserRolesTable;
  sessions: SessionsTable;
  refresh_tokens: RefreshTokensTable;
  counters: CountersTable;
  signing_keys: SigningKeysTable;
  secrets: SecretsTable;
}

export interface UsersTable {
  id: string;
  email: string;
  password_hash: string;
  created_at: number;
  disabled_at: number | null;
}

export interface UserRolesTable {
  user_id: string;
  role: string;
}

export interface SessionsTable {
  id: string;
  user_id: string;
  created_at: number;
  last_used_at: number;
  expires_at: number;
  idle_expires_at: number;
  user_agent: string | null;
  ip: string | null;
  revoked_at: number | null;
  revoked_reason: string | null;
}

export interface RefreshTokensTable {
  hash: string;
  session_id: string;
  created_at: number;
  rotated_at: number | null;
  successor_hash: string | null;
}

export interface CountersTable {
  key: string;
  count: number;
  window_started_at: number;
  last_at: number;
  expires_at: number;
}

export interface SigningKeysTable {
  kid: string;
  alg: string;
  public_jwk: string;
  private_key: string;
  created_at: number;
  activates_at: number;
  retires_at: number;
  expires_at: number;
  revoked_at: number | null;
}

export interface SecretsTable {
  name: string;
  value: string;
}
