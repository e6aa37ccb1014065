/**
 * The store over any SQL database Kysely speaks to: its parts (users.ts, sessions.ts, counters.ts,
 * keys.ts) over one connection. Everything here is dialect-independent; the dialect files (sqlite.ts,
 * postgres.ts) open the connection and supply the write strategy: how a writer keeps others out, and
 * when its commit counts as done.
 */
import { type Kysely, sql } from 'kysely';
import { StoreError } from '../../errors.js';
import { composeStore } from '../composed-store.js';
import type { Store } from '../types.js';
import { SQLCounterStore } from './counters.js';
import { SQLKeyStore } from './keys.js';
import type { Database } from './schema.js';
import { type SessionWriteStrategy, SQLSessionStore } from './sessions.js';
import { SQLUserStore } from './users.js';

export type { WriteTransaction } from './write-transaction.js';

export interface SQLStoreOptions extends SessionWriteStrategy {
  /** Throws when the dialect knows the database cannot be trusted any more, whatever `select 1` says. */
  check?: () => void;
  /** Closes the database. */
  close: () => Promise<void>;
}

export function createSQLStore(db: Kysely<Database>, options: SQLStoreOptions): Store {
  return composeStore({
    users: new SQLUserStore(db, options),
    sessions: new SQLSessionStore(db, options),
    counters: new SQLCounterStore(db, options),
    keys: new SQLKeyStore(db, options),
    async ping() {
      options.check?.();
      try {
        await sql`select 1`.execute(db);
      } catch (error) {
        throw new StoreError('ERR_STORE_UNAVAILABLE', 'the database does not answer', { cause: error });
      }
    },
    close: options.close,
  });
}
