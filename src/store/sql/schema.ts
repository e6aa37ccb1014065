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

/**
 * Every column of a table, by name, for queries that read whole rows: PostgreSQL keeps queries as
 * prepared statements (postgres-statements.ts), and one that selected `*` would fail on every running
 * instance once a newer release's migration adds a column. `Record<keyof …, true>` keeps each list
 * complete: a column added to a table type and not here does not compile.
 */
const columnsOf = <Table>(columns: Record<keyof Table & string, true>) =>
  Object.keys(columns) as (keyof Table & string)[];

export const USER_COLUMNS = columnsOf<UsersTable>({
  id: true,
  email: true,
  password_hash: true,
  created_at: true,
  disabled_at: true,
});

export const SESSION_COLUMNS = columnsOf<SessionsTable>({
  id: true,
  user_id: true,
  created_at: true,
  last_used_at: true,
  expires_at: true,
  idle_expires_at: true,
  user_agent: true,
  ip: true,
  revoked_at: true,
  revoked_reason: true,
});

export const COUNTER_COLUMNS = columnsOf<CountersTable>({
  key: true,
  count: true,
  window_started_at: true,
  last_at: true,
  expires_at: true,
});

export const SIGNING_KEY_COLUMNS = columnsOf<SigningKeysTable>({
  kid: true,
  alg: true,
  public_jwk: true,
  private_key: true,
  created_at: true,
  activates_at: true,
  retires_at: true,
  expires_at: true,
  revoked_at: true,
});
