/**
 * Opens the store a configuration names: SQLite (the embedded default) or PostgreSQL. The server and
 * the command line both open their store here, so they always agree on what DATABASE_URL means.
 */
import { openPostgresDatabase, type PostgresOptions, withPostgresTransaction } from './sql/postgres.js';
import { createPostgresRefresh } from './sql/postgres-refresh.js';
import { createSQLStore } from './sql/sql-store.js';
import { openSQLiteStore, type SQLiteOptions } from './sql/sqlite.js';
import type { Store } from './types.js';

export type DatabaseConfig =
  | { kind: 'sqlite'; path: string }
  | { kind: 'postgres'; url: string; poolSize: number; statementTimeoutMs: number };

/** Opens, checks and migrates the PostgreSQL database at `url`; see `openPostgresDatabase` for errors. */
export async function openPostgresStore(url: string, options: PostgresOptions = {}): Promise<Store> {
  const db = await openPostgresDatabase(url, options);
  // Row locks: many instances write the same database at once, each waiting only for the rows it needs.
  return createSQLStore(db, {
    write: (work) => withPostgresTransaction(db, work),
    read: async (query) => (await db.executeQuery(query)).rows,
    lockRows: true,
    close: () => db.destroy(),
    // Two statements and no transaction: the hottest write costs two round trips, not eight.
    consumeRefreshToken: createPostgresRefresh(db),
  });
}

/** What a server (checkpoints) or a command that only reads (`existing`) asks beyond the configuration. */
export type StoreOptions = SQLiteOptions;

export async function openStore(database: DatabaseConfig, options: StoreOptions = {}): Promise<Store> {
  switch (database.kind) {
    case 'sqlite':
      return openSQLiteStore(database.path, options);
    case 'postgres':
      return openPostgresStore(database.url, {
        poolSize: database.poolSize,
        statementTimeoutMs: database.statementTimeoutMs,
        ...(options.existing === undefined ? {} : { existing: options.existing }),
      });
  }
}
