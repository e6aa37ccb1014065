import type { CompiledQuery, Kysely } from 'kysely';
import type { Database } from './schema.js';

/**
 * Runs `work` in one transaction and resolves once its commit is durable. Every write of the store
 * goes through it, single statements too.
 */
export type WriteTransaction = <T>(work: (trx: Kysely<Database>) => Promise<T>) => Promise<T>;

/** Runs a compiled read outside any transaction: the rows it selects. */
export type ReadQuery = <Row>(query: CompiledQuery<Row>) => Promise<readonly Row[]>;

/**
 * How the shared SQL code writes and reads, as each dialect supplies it (sqlite.ts, postgres.ts
 * through ../open.ts): the queries are the same everywhere, the way writers keep out of each other
 * is not, nor the cheapest way to run a read.
 */
export interface WriteStrategy {
  write: WriteTransaction;
  /** The hot reads: counters, users, sessions, by key. */
  read: ReadQuery;
  /**
   * Whether a transaction that reads and then writes must lock the rows it reads (SELECT … FOR
   * UPDATE, PostgreSQL), or the write transaction keeps every other writer out anyway (SQLite's
   * write lock, taken at BEGIN).
   */
  lockRows: boolean;
}
