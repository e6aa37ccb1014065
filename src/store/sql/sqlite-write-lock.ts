import { type Kysely, sql } from 'kysely';
import type { SQLiteStatements } from './sqlite-statements.js';

/**
 * Runs `work` in a transaction that holds SQLite's write lock from its first statement. A plain BEGIN
 * takes the lock only at the first write, so two processes could both read a refresh token as current
 * and then both rotate it (or one fails with SQLITE_BUSY half-way). BEGIN IMMEDIATE makes the second
 * writer wait (busy_timeout) until the first has committed, and then read what the first wrote.
 * Kysely's own transactions cannot say IMMEDIATE, so this drives one connection by hand.
 */
export async function withSQLiteWriteLock<DB, T>(
  db: Kysely<DB>,
  statements: SQLiteStatements,
  work: (trx: Kysely<DB>) => Promise<T>,
): Promise<T> {
  return db.connection().execute((connection) =>
    statements.writing(async () => {
      await sql`begin immediate`.execute(connection);
      try {
        const result = await work(connection);
        await sql`commit`.execute(connection);
        return result;
      } catch (error) {
        try {
          await sql`rollback`.execute(connection);
        } catch {
          // SQLite may have rolled back on its own (SQLITE_FULL, SQLITE_IOERR); the first error says why.
        }
        throw error;
      }
    }),
  );
}
