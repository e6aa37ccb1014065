/**
 * Group commit's first half (group-sync.ts is the second, the flush): the synchronous write
 * transactions asked for in one turn of the event loop run as one SQLite transaction, one after the
 * other in the order they were asked for, each in a savepoint of its own. Refreshes and logins that
 * arrive together so write the pages they share (a table's last leaf, a session's row) once, take
 * SQLite's locks once and append one commit to the WAL, instead of one each.
 *
 * Each still behaves as a transaction of its own: it runs under the write lock and sees what the ones
 * before it wrote; one that throws is rolled back to its savepoint, and only it fails. Every caller is
 * answered only after the shared commit is durable, and all of them fail if it is not.
 */

/** A unit of work run synchronously inside the shared transaction; it must not be async. */
export type SyncWork = () => unknown;

interface Queued {
  work: SyncWork;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export interface SharedCommitsParts {
  /** Runs `work` in one write transaction (BEGIN IMMEDIATE … COMMIT, ROLLBACK when it throws). */
  transaction<T>(work: () => T): Promise<T>;
  /** Runs `work` in a savepoint of the open transaction, rolled back to it when `work` throws. */
  savepoint<T>(work: () => T): T;
  /** Whether the transaction is still open: SQLite may have rolled it back on its own. */
  open(): boolean;
  /** Resolves once every commit made so far is durable; `works` is how many the commit carries. */
  durable(works: number): Promise<void>;
}

export class SharedCommits {
  readonly #parts: SharedCommitsParts;
  #queue: Queued[] = [];
  /** The batches taken from the queue and not yet answered. */
  #pending = new Set<Promise<void>>();

  constructor(parts: SharedCommitsParts) {
    this.#parts = parts;
  }

  /** Runs `work` in the next shared transaction; resolves with its result once that is durable. */
  run<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      // After the I/O callbacks of this turn: every request read in it has asked by then.
      if (this.#queue.length === 1) setImmediate(() => this.#take());
    });
  }

  /** Resolves once every work asked for so far is answered (at close). */
  async settled(): Promise<void> {
    while (this.#queue.length > 0 || this.#pending.size > 0) {
      if (this.#pending.size === 0) this.#take();
      await Promise.all(this.#pending);
    }
  }

  #take(): void {
    const batch = this.#queue;
    if (batch.length === 0) return;
    this.#queue = [];
    const pending = this.#commit(batch).finally(() => this.#pending.delete(pending));
    this.#pending.add(pending);
  }

  async #commit(batch: readonly Queued[]): Promise<void> {
    let outcomes: Outcome[];
    try {
      outcomes = await this.#parts.transaction(() => this.#runAll(batch));
    } catch (error) {
      // The transaction as a whole failed (BEGIN, COMMIT, or the only work): nothing of it stays.
      for (const { reject } of batch) reject(error);
      return;
    }
    let flushed: { ok: true } | { ok: false; error: unknown } = { ok: true };
    try {
      await this.#parts.durable(batch.length);
    } catch (error) {
      flushed = { ok: false, error };
    }
    batch.forEach(({ resolve, reject }, i) => {
      const outcome = outcomes[i] as Outcome;
      if (!outcome.ok) reject(outcome.error);
      else if (!flushed.ok) reject(flushed.error);
      else resolve(outcome.value);
    });
  }

  /** Inside the transaction. A lone work needs no savepoint: when it throws, the transaction rolls back. */
  #runAll(batch: readonly Queued[]): Outcome[] {
    const [only] = batch;
    if (batch.length === 1 && only !== undefined) {
      const value = only.work();
      // What better-sqlite3 refuses of a transaction function, and its savepoints still do: the
      // statements after an await would run outside the transaction.
      if (typeof (value as PromiseLike<unknown> | null)?.then === 'function') {
        throw new TypeError('a shared write must not be async');
      }
      return [{ ok: true, value }];
    }
    return batch.map(({ work }): Outcome => {
      try {
        return { ok: true, value: this.#parts.savepoint(work) };
      } catch (error) {
        // Some errors (a full disk, an I/O error) make SQLite roll back the whole transaction: then
        // nothing of the batch stays, and the works after this one must not run outside it.
        if (!this.#parts.open()) throw error;
        return { ok: false, error };
      }
    });
  }
}
