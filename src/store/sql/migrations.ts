/**
 * The schema's history, in code so that nothing is read from disk at run time, and written with Kysely's
 * schema builder so that one history serves SQLite and PostgreSQL. Times are `bigint` milliseconds
 * (SQLite gives the column INTEGER affinity; PostgreSQL's int8 is read back as a checked number).
 * What differs between the two is in `columnTypes`, nowhere else. Never edit a migration that has
 * shipped: add the next one.
 */
import {
  type Kysely,
  type Migration,
  type MigrationProvider,
  Migrator,
  PostgresAdapter,
  type RawBuilder,
  sql,
} from 'kysely';
import { StoreError } from '../../errors.js';

/** The column types whose spelling depends on the database. */
interface ColumnTypes {
  text: 'text' | RawBuilder<unknown>;
}

/**
 * SQLite compares and sorts text by its bytes; PostgreSQL by the database's collation, often a
 * locale's (where `b` < `B` < `c`, and ties between ids or kids would order differently). `"C"` gives
 * PostgreSQL SQLite's byte order, so every list comes back in the same order from both.
 */
function columnTypes(db: Kysely<unknown>): ColumnTypes {
  return db.getExecutor().adapter instanceof PostgresAdapter
    ? { text: sql`text collate "C"` }
    : { text: 'text' };
}

const initial: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    const { text } = columnTypes(db);
    await db.schema
      .createTable('users')
      .addColumn('id', text, (col) => col.primaryKey())
      .addColumn('email', text, (col) => col.notNull())
      .addColumn('password_hash', text, (col) => col.notNull())
      .addColumn('created_at', 'bigint', (col) => col.notNull())
      .addColumn('disabled_at', 'bigint')
      .execute();
    await db.schema.createIndex('users_email_key').unique().on('users').column('email').execute();

    await db.schema
      .createTable('sessions')
      .addColumn('id', text, (col) => col.primaryKey())
      .addColumn('user_id', text, (col) => col.notNull().references('users.id'))
      .addColumn('created_at', 'bigint', (col) => col.notNull())
      .addColumn('last_used_at', 'bigint', (col) => col.notNull())
      .addColumn('expires_at', 'bigint', (col) => col.notNull())
      .addColumn('idle_expires_at', 'bigint', (col) => col.notNull())
      .addColumn('user_agent', text)
      .addColumn('ip', text)
      .addColumn('revoked_at', 'bigint')
      .addColumn('revoked_reason', text)
      .execute();
    await db.schema.createIndex('sessions_user_id_idx').on('sessions').column('user_id').execute();
    // The revocation feed asks for recent revocations every second on every instance.
    await db.schema.createIndex('sessions_revoked_at_idx').on('sessions').column('revoked_at').execute();

    await db.schema
      .createTable('refresh_tokens')
      .addColumn('hash', text, (col) => col.primaryKey())
      .addColumn('session_id', text, (col) => col.notNull().references('sessions.id'))
      .addColumn('created_at', 'bigint', (col) => col.notNull())
      .addColumn('rotated_at', 'bigint')
      .addColumn('successor_hash', text)
      .execute();
    await db.schema
      .createIndex('refresh_tokens_session_id_idx')
      .on('refresh_tokens')
      .column('session_id')
      .execute();

    await db.schema
      .createTable('counters')
      .addColumn('key', text, (col) => col.primaryKey())
      .addColumn('count', 'integer', (col) => col.notNull())
      .addColumn('window_started_at', 'bigint', (col) => col.notNull())
      .addColumn('last_at', 'bigint', (col) => col.notNull())
      .addColumn('expires_at', 'bigint', (col) => col.notNull())
      .execute();

    await db.schema
      .createTable('signing_keys')
      .addColumn('kid', text, (col) => col.primaryKey())
      .addColumn('alg', text, (col) => col.notNull())
      .addColumn('public_jwk', text, (col) => col.notNull())
      .addColumn('private_key', text, (col) => col.notNull())
      .addColumn('created_at', 'bigint', (col) => col.notNull())
      .addColumn('activates_at', 'bigint', (col) => col.notNull())
      .addColumn('retires_at', 'bigint', (col) => col.notNull())
      .addColumn('expires_at', 'bigint', (col) => col.notNull())
      .execute();

    await db.schema
      .createTable('secrets')
      .addColumn('name', text, (col) => col.primaryKey())
      .addColumn('value', text, (col) => col.notNull())
      .execute();
  },
};

/** A compromised key is revoked: it leaves signing and the JWKS at once, and stays listed until it expires. */
const signingKeyRevocation: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('signing_keys').addColumn('revoked_at', 'bigint').execute();
  },
};

/**
 * The roles of each user, for the `roles` claim of access tokens. The primary key makes a role appear
 * once per user and serves the lookup by user (its first column), so no other index is needed.
 */
const userRoles: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    const { text } = columnTypes(db);
    await db.schema
      .createTable('user_roles')
      .addColumn('user_id', text, (col) => col.notNull().references('users.id'))
      .addColumn('role', text, (col) => col.notNull())
      .addPrimaryKeyConstraint('user_roles_pkey', ['user_id', 'role'])
      .execute();
  },
};

/**
 * The revocation feed's index, in the feed's order (revocation time, then id) so that a page is a
 * range of it read in place, with no sort; and of revoked sessions only, so that a login, which adds
 * a live session, no longer writes to it. Building it holds writes to sessions while it runs (on
 * SQLite, every write): on a large table, migrate outside busy hours.
 */
const revocationFeedIndex: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    // The new index first: on PostgreSQL, building it holds writes to sessions, not reads; dropping
    // the old one takes a lock that holds reads too, and would keep it for the whole build if first.
    await db.schema
      .createIndex('sessions_revoked_idx')
      .on('sessions')
      .columns(['revoked_at', 'id'])
      .where(sql.ref('revoked_at'), 'is not', null)
      .execute();
    await db.schema.dropIndex('sessions_revoked_at_idx').execute();
  },
};

/**
 * The live sessions of each user, for the limit a login keeps (the least recently used end first):
 * without it, that count reads every session the user had within the last day, ended ones too, under
 * the write lock of every login. Of user ids only, not of the time of use: a refresh, which changes
 * that time, so leaves the index alone (and on PostgreSQL stays a HOT update).
 */
const liveSessionsIndex: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createIndex('sessions_live_user_idx')
      .on('sessions')
      .column('user_id')
      .where(sql.ref('revoked_at'), 'is', null)
      .execute();
  },
};

/** Names sort in the order the migrations must run. */
const migrations: Record<string, Migration> = {
  '0001_initial': initial,
  '0002_signing_key_revocation': signingKeyRevocation,
  '0003_user_roles': userRoles,
  '0004_revocation_feed_index': revocationFeedIndex,
  '0005_live_sessions_index': liveSessionsIndex,
};

const provider: MigrationProvider = {
  getMigrations: async () => migrations,
};

/**
 * Brings the schema up to date; throws naming the migration that failed (its cause attached).
 * `schema` names where Kysely keeps its bookkeeping tables; PostgreSQL passes its current schema, as
 * Kysely otherwise takes a bookkeeping table in any schema of the database for its own.
 */
export async function migrateToLatest<DB>(db: Kysely<DB>, schema?: string): Promise<void> {
  const { error, results = [] } = await migratorOf(db, schema).migrateToLatest();
  if (error === undefined) return;
  const failed = results.find((result) => result.status === 'Error');
  const what = failed === undefined ? 'reading the migration state' : `migration ${failed.migrationName}`;
  throw new Error(`database schema update failed at ${what}`, { cause: error });
}

/**
 * For the commands that only read: throws unless the schema is this version's, and changes nothing
 * (Kysely reads its bookkeeping table only when it exists). `where` names the database in messages.
 */
export async function assertSchemaCurrent<DB>(db: Kysely<DB>, where: string, schema?: string): Promise<void> {
  const known = await migratorOf(db, schema).getMigrations();
  const missing = known.filter((migration) => migration.executedAt === undefined).map(({ name }) => name);
  if (missing.length === known.length) {
    throw new StoreError(
      'ERR_STORE_DATABASE_MISSING',
      `${where} holds no Latchkey database: start the server or run \`latchkey migrate\` to create one`,
    );
  }
  if (missing.length > 0) {
    throw new StoreError(
      'ERR_STORE_SCHEMA_OUTDATED',
      `${where} lacks migration ${missing.join(', ')}: start the server of this version or run ` +
        '`latchkey migrate` first',
    );
  }
  // Applied migrations this version does not know: a newer Latchkey made the schema, and this one
  // must not read or write it (migrateToLatest refuses it too).
  const table = sql.table(schema === undefined ? 'kysely_migration' : `${schema}.kysely_migration`);
  const applied = await sql<{ name: string }>`select name from ${table}`.execute(db);
  const names = new Set(known.map(({ name }) => name));
  const unknown = applied.rows.map(({ name }) => name).filter((name) => !names.has(name));
  if (unknown.length > 0) {
    throw new StoreError(
      'ERR_STORE_SCHEMA_OUTDATED',
      `${where} has migration ${unknown.sort().join(', ')}, which this version of Latchkey does not ` +
        'know: a newer version made it; use that one',
    );
  }
}

function migratorOf<DB>(db: Kysely<DB>, schema: string | undefined): Migrator {
  return new Migrator({ db, provider, ...(schema === undefined ? {} : { migrationTableSchema: schema }) });
}
