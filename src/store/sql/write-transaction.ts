import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/**
 * Runs `work` in one transaction and resolves once its commit is durable. Every write of the store
 * goes through it, single statements too.
 */
export type WriteTransaction = <T>(work: (trx: Kysely<Database>) => Promise<T>) => Promise<T>;

/**
 * How the shared SQL code writes, as each dialect supplies it (sqlite.ts, postgres.ts through
 * ../open.ts): the queries are the same everywhere, the way writers keep out of each other is not.
 */
export interface WriteStrategy {
  write: WriteTransaction;
  /**
   * Whether a transaction that reads and then writes must lock the rows it reads (SELECT … FOR
   * UPDATE, PostgreSQL), or the write transaction keeps every other writer out anyway (SQLite's
   * write lock, taken at BEGIN).
   */
  lockRows: boolean;
}
