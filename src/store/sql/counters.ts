/** The counters part of the SQL store (see sql-store.ts). */
import type { Kysely } from 'kysely';
import type { CounterState, CounterStore } from '../counter-store.js';
import { prepareQuery } from './prepared-query.js';
import { toCounterState } from './rows.js';
import { COUNTER_COLUMNS, type Database } from './schema.js';
import type { ReadQuery, WriteStrategy, WriteTransaction } from './write-transaction.js';

/**
 * The counters' statements, compiled once (prepared-query.ts): a login reads its three counters at least
 * twice, and across instances counts itself in flight through them, so they run on every login.
 */
function prepareCounterQueries(db: Kysely<Database>) {
  return {
    byKey: prepareQuery(['key'], ({ key }) =>
      db.selectFrom('counters').select(COUNTER_COLUMNS).where('key', '=', key),
    ),
    // One statement, so concurrent failures never lose a count. `excluded` is the row that would have
    // been inserted: a fresh window starting now.
    recordFailure: prepareQuery(['key', 'now', 'expiresAt'], ({ key, now, expiresAt }) =>
      db
        .insertInto('counters')
        .values({ key, count: 1, window_started_at: now, last_at: now, expires_at: expiresAt })
        .onConflict((conflict) =>
          conflict.column('key').doUpdateSet((eb) => {
            const ended = eb('counters.expires_at', '<=', eb.ref('excluded.last_at'));
            return {
              count: eb
                .case()
                .when(ended)
                .then(eb.ref('excluded.count'))
                .else(eb('counters.count', '+', 1))
                .end(),
              window_started_at: eb
                .case()
                .when(ended)
                .then(eb.ref('excluded.window_started_at'))
                .else(eb.ref('counters.window_started_at'))
                .end(),
              expires_at: eb
                .case()
                .when(ended)
                .then(eb.ref('excluded.expires_at'))
                .else(eb.ref('counters.expires_at'))
                .end(),
              // The later of the two: concurrent failures (other connections, other instances) commit
              // in any order. CASE rather than max()/greatest(), which SQLite and PostgreSQL spell
              // differently.
              last_at: eb
                .case()
                .when(eb('counters.last_at', '>', eb.ref('excluded.last_at')))
                .then(eb.ref('counters.last_at'))
                .else(eb.ref('excluded.last_at'))
                .end(),
            };
          }),
        )
        .returning(COUNTER_COLUMNS),
    ),
    clear: prepareQuery(['key'], ({ key }) => db.deleteFrom('counters').where('key', '=', key)),
  };
}

export class SQLCounterStore implements CounterStore {
  readonly #write: WriteTransaction;
  readonly #read: ReadQuery;
  readonly #queries: ReturnType<typeof prepareCounterQueries>;

  constructor(db: Kysely<Database>, { write, read }: WriteStrategy) {
    this.#write = write;
    this.#read = read;
    this.#queries = prepareCounterQueries(db);
  }

  async recordFailure(key: string, windowMs: number, now: number): Promise<CounterState> {
    const query = this.#queries.recordFailure({ key, now, expiresAt: now + windowMs });
    const row = await this.#write(async (trx) => (await trx.executeQuery(query)).rows[0]);
    if (row === undefined) throw new Error('counter upsert returned no row');
    return toCounterState(row);
  }

  async readCounter(key: string, now: number): Promise<CounterState | null> {
    const [row] = await this.#read(this.#queries.byKey({ key }));
    return row === undefined || now >= row.expires_at ? null : toCounterState(row);
  }

  async clearCounter(key: string): Promise<void> {
    const query = this.#queries.clear({ key });
    await this.#write((trx) => trx.executeQuery(query));
  }

  async deleteExpiredCounters(before: number): Promise<number> {
    const result = await this.#write((trx) =>
      trx.deleteFrom('counters').where('expires_at', '<', before).executeTakeFirst(),
    );
    return Number(result.numDeletedRows);
  }
}
