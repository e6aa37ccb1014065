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

/**
 * A reader's positions, in the times of the list it reads (its own clock's, or its issuer's), and
 * when it read, by its own clock.
 */
export class RereadPositions {
  #position: number | null = null;
  #deepPosition: number | null = null;
  #readAt = 0;

  /** Where the next read, starting at `now` by the reader's clock, starts in the list. */
  next(now: number): RereadStart {
    if (this.#position === null || this.#deepPosition === null) return { since: null, deep: true };
    // Where the list has got to by now: a reader that reads seldom re-reads the deep window each time.
    const reached = this.#position + Math.max(0, now - this.#readAt);
    if (reached - this.#deepPosition >= REVOCATION_REREAD.deepEveryMs) {
      return { since: this.#deepPosition - REVOCATION_REREAD.deepMs, deep: true };
    }
    return { since: this.#position - REVOCATION_REREAD.recentMs, deep: false };
  }

  /**
   * A read that started where `start` said succeeded, and read the list up to `position`; `now` is
   * when it started, by the reader's clock.
   */
  read(start: RereadStart, position: number, now: number): void {
    if (this.#steppedBack(position, now)) {
      // New revocations may be stamped below where the re-reads would start: read it all.
      this.#position = null;
      this.#deepPosition = null;
      return;
    }
    this.#position = position;
    this.#readAt = now;
    if (start.deep) this.#deepPosition = position;
  }

  /**
   * The list's clock went back: behind the last deep read, or by more than the recent window against
   * the reader's own clock since the last read (an issuer's NTP step, seen by a verifier).
   */
  #steppedBack(position: number, now: number): boolean {
    if (this.#position === null || this.#deepPosition === null) return false;
    if (position < this.#deepPosition) return true;
    const behind = now - this.#readAt - (position - this.#position);
    return behind > REVOCATION_REREAD.recentMs;
  }
}
