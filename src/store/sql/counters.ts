/** The counters part of the SQL store (see sql-store.ts). */
import type { Kysely } from 'kysely';
import {
  assertDistinctKeys,
  type CounterFailure,
  type CounterState,
  type CounterStore,
} from '../counter-store.js';
import { prepareQuery } from './prepared-query.js';
import { toCounterState } from './rows.js';
import { COUNTER_COLUMNS, type Database } from './schema.js';
import type { ReadQuery, WriteStrategy, WriteTransaction } from './write-transaction.js';

/**
 * The counters' statements, each compiled once per batch size (prepared-query.ts): a login reads its
 * three counters at least twice, and across instances counts itself in flight through them, so they
 * run on every login.
 */
function prepareCounterQueries(db: Kysely<Database>) {
  return {
    /** The counters under `size` keys. */
    byKeys: (size: number) => {
      const names = indexed('key', size);
      return prepareQuery(names, (markers) =>
        db
          .selectFrom('counters')
          .select(COUNTER_COLUMNS)
          .where(
            'key',
            'in',
            names.map((name) => markers[name] as never),
          ),
      );
    },
    // One statement, so concurrent failures never lose a count. `excluded` is the row that would have
    // been inserted: a fresh window starting now.
    recordFailures: (size: number) => {
      const keys = indexed('key', size);
      const ends = indexed('expiresAt', size);
      return prepareQuery([...keys, ...ends, 'now'], (markers) =>
        db
          .insertInto('counters')
          .values(
            keys.map((key, i) => ({
              key: markers[key] as never,
              count: 1,
              window_started_at: markers.now as never,
              last_at: markers.now as never,
              expires_at: markers[ends[i] as string] as never,
            })),
          )
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
                // The later of the two: concurrent failures (other connections, other instances)
                // commit in any order. CASE rather than max()/greatest(), which SQLite and PostgreSQL
                // spell differently.
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
      );
    },
    clear: prepareQuery(['key'], ({ key }) => db.deleteFrom('counters').where('key', '=', key)),
  };
}

type CounterQueries = ReturnType<typeof prepareCounterQueries>;

/** `name0`, `name1`, … : one parameter name for each of `size` values. */
function indexed(name: string, size: number): string[] {
  return Array.from({ length: size }, (_, i) => `${name}${i}`);
}

/**
 * Each batch size's statements, compiled the first time that size is asked for (prepared-query.ts): a
 * login asks for the same few sizes every time (its 3 counters; 9 and 6 when counting itself in flight).
 */
class BySize<Query> {
  readonly #build: (size: number) => Query;
  readonly #queries = new Map<number, Query>();

  constructor(build: (size: number) => Query) {
    this.#build = build;
  }

  of(size: number): Query {
    let query = this.#queries.get(size);
    if (query === undefined) {
      query = this.#build(size);
      this.#queries.set(size, query);
    }
    return query;
  }
}

export class SQLCounterStore implements CounterStore {
  readonly #write: WriteTransaction;
  readonly #read: ReadQuery;
  readonly #byKeys: BySize<ReturnType<CounterQueries['byKeys']>>;
  readonly #recordFailures: BySize<ReturnType<CounterQueries['recordFailures']>>;
  readonly #clear: CounterQueries['clear'];

  constructor(db: Kysely<Database>, { write, read }: WriteStrategy) {
    this.#write = write;
    this.#read = read;
    const queries = prepareCounterQueries(db);
    this.#byKeys = new BySize(queries.byKeys);
    this.#recordFailures = new BySize(queries.recordFailures);
    this.#clear = queries.clear;
  }

  async recordFailures(failures: readonly CounterFailure[], now: number): Promise<CounterState[]> {
    const keys = failures.map(({ key }) => key);
    assertDistinctKeys(keys);
    if (failures.length === 0) return [];
    const values: Record<string, unknown> = { now };
    // In key order: two batches sharing keys then lock their rows in the same order, so on PostgreSQL
    // neither can wait for a row the other holds while holding one it waits for. (The hourly delete of
    // ended counters locks in its own order; a deadlock with it is rare and retried, withPostgresTransaction.)
    const ordered = [...failures].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    ordered.forEach(({ key, windowMs }, i) => {
      values[`key${i}`] = key;
      values[`expiresAt${i}`] = now + windowMs;
    });
    const query = this.#recordFailures.of(failures.length)(values);
    const rows = await this.#write(async (trx) => (await trx.executeQuery(query)).rows);
    // RETURNING lists the rows in no promised order.
    const byKey = new Map(rows.map((row) => [row.key, row]));
    return keys.map((key) => {
      const row = byKey.get(key);
      if (row === undefined) throw new Error(`counter upsert returned no row for ${key}`);
      return toCounterState(row);
    });
  }

  async readCounters(keys: readonly string[], now: number): Promise<(CounterState | null)[]> {
    if (keys.length === 0) return [];
    const values = Object.fromEntries(keys.map((key, i) => [`key${i}`, key]));
    const rows = await this.#read(this.#byKeys.of(keys.length)(values));
    const byKey = new Map(rows.map((row) => [row.key, row]));
    return keys.map((key) => {
      const row = byKey.get(key);
      return row === undefined || now >= row.expires_at ? null : toCounterState(row);
    });
  }

  async clearCounter(key: string): Promise<void> {
    const query = this.#clear({ key });
    await this.#write((trx) => trx.executeQuery(query));
  }

  async deleteExpiredCounters(before: number): Promise<number> {
    const result = await this.#write((trx) =>
      trx.deleteFrom('counters').where('expires_at', '<', before).executeTakeFirst(),
    );
    return Number(result.numDeletedRows);
  }
}
