/**
 * Wires SQLite (better-sqlite3) to the SQL store: the embedded default. Nothing here knows a query.
 *
 * better-sqlite3 is synchronous, so a process waiting for another's write lock sleeps in SQLite's busy
 * handler. Open one store per file per process: a second store on the same file in the same process
 * would sleep while the first holds the lock across an `await`, and fail with SQLITE_BUSY.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { migrateToLatest } from './migrations.js';
import type { Database } from './schema.js';
import { SQLStore } from './sql-store.js';
import { withSQLiteWriteLock } from './write-lock.js';

const IN_MEMORY = ':memory:';

/** Opens (creating it and its directory if needed) and migrates the SQLite database at `path`. */
export async function openSQLiteDatabase(path: string): Promise<Kysely<Database>> {
  if (path !== IN_MEMORY) await mkdir(dirname(path), { recursive: true });
  const database = new BetterSqlite3(path);
  try {
    // First, so that even the switch to WAL waits for another process instead of failing.
    database.pragma('busy_timeout = 5000');
    // Readers never block the writer, nor the writer readers.
    database.pragma('journal_mode = WAL');
    // WAL's default (NORMAL) may lose the last commits on power loss; a lost revocation is a security bug.
    database.pragma('synchronous = FULL');
    database.pragma('foreign_keys = ON');
    // Times are milliseconds, exact in a double: rows carry plain numbers, as the schema says.
    database.defaultSafeIntegers(false);
  } catch (error) {
    database.close();
    throw error;
  }
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  try {
    // Kysely runs SQLite migrations outside a transaction; under the write lock a failed migration
    // leaves nothing behind, and a second process starting at the same time waits and then finds the
    // schema up to date instead of creating the same tables again.
    await withSQLiteWriteLock(db, migrateToLatest);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return db;
}

export async function openSQLiteStore(path: string): Promise<SQLStore> {
  return new SQLStore(await openSQLiteDatabase(path), { writeLock: 'database' });
}
