/**
 * Runs of one task shared by the calls that want them: a call waits for a run that begins after it,
 * and every call made while a run is under way shares the next one. (Also how the server coalesces
 * cues from other instances to read the store, in runtime.ts.)
 *
 * Group commit's durability half. SQLite commits in WAL mode with synchronous=NORMAL, which writes the
 * commit to the WAL file without waiting for the disk; the writer then awaits `sync()`, which makes
 * every commit made so far durable with one flush that runs off the event loop. Writers that commit
 * while a flush is under way share the next one: N concurrent writes cost about two flushes, not N.
 */
export class GroupSync {
  readonly #flush: () => Promise<void>;
  /** The flush under way, which may have begun before the caller's commit. */
  #running: Promise<void> | null = null;
  /** The flush that starts when the running one ends: it covers every commit made until then. */
  #next: Promise<void> | null = null;

  constructor(flush: () => Promise<void>) {
    this.#flush = flush;
  }

  /** Resolves once every commit made before the call is on disk. */
  sync(): Promise<void> {
    if (this.#running === null) return this.#start();
    if (this.#next === null) {
      const start = () => {
        this.#next = null;
        return this.#start();
      };
      this.#next = this.#running.then(start, start);
    }
    return this.#next;
  }

  /** Waits for the flushes under way (at close, so none outlives the database). */
  async settled(): Promise<void> {
    while (this.#running !== null || this.#next !== null) {
      await (this.#next ?? this.#running)?.catch(() => undefined);
    }
  }

  #start(): Promise<void> {
    const flush = this.#flush().finally(() => {
      if (this.#running === flush) this.#running = null;
    });
    this.#running = flush;
    return flush;
  }
}
