/**
 * How a reader of revocations (an instance syncing the store, a verifier polling the revocation feed)
 * reads again what it has read before. A revocation is stamped with its time before its transaction
 * commits, and may wait in between: for SQLite's write lock (up to its 5 s busy timeout), for
 * PostgreSQL row locks (up to the 10 s statement timeout by default). So it can join the list behind
 * a reader's position, after younger ones.
 *
 * Every read re-reads the last `recentMs` before the reader's position, and every `deepEveryMs` one
 * read re-reads from `deepMs` before the position of the last such deep read. A revocation that
 * commits up to `deepMs` after its time is found within `deepEveryMs` (and one interval) of its
 * commit; one that commits later is missed, and its access tokens stay accepted by that reader until
 * they expire. A logout-all of many sessions is read about recentMs / interval + (deepMs +
 * deepEveryMs) / deepEveryMs times, where re-reading `deepMs` on every read would read it
 * deepMs / interval times (60 times for an instance, which syncs twice a second).
 */
export const REVOCATION_REREAD = Object.freeze({ recentMs: 5_000, deepMs: 30_000, deepEveryMs: 10_000 });

export interface RereadStart {
  /** The first time to read from; null for the first read, which reads all it may. */
  since: number | null;
  deep: boolean;
}

/** A reader's positions, in the times of the list it reads (its own clock's or its issuer's). */
export class RereadPositions {
  #position: number | null = null;
  #deepPosition: number | null = null;

  /** Where the next read starts. */
  next(): RereadStart {
    if (this.#position === null || this.#deepPosition === null) return { since: null, deep: true };
    if (this.#position - this.#deepPosition >= REVOCATION_REREAD.deepEveryMs) {
      return { since: this.#deepPosition - REVOCATION_REREAD.deepMs, deep: true };
    }
    return { since: this.#position - REVOCATION_REREAD.recentMs, deep: false };
  }

  /** A read that started where `start` said succeeded, and read the list up to `position`. */
  read(start: RereadStart, position: number): void {
    this.#position = position;
    if (start.deep) this.#deepPosition = position;
  }
}
