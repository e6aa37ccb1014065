/**
 * Moves the WAL into the database file from a worker thread. A checkpoint writes pages and waits for
 * the disk twice; run by the connection that serves requests (SQLite's automatic checkpoint) it would
 * hold up every request on the event loop meanwhile. The worker has a connection of its own and runs
 * a PASSIVE checkpoint, which never waits for a reader or a writer, after every so many commits or
 * so much time, whichever comes first.
 *
 * SQLite starts the WAL over at its beginning only when a write transaction begins with all of the
 * WAL moved; under steady writes a commit always lands while a checkpoint runs, and the WAL file
 * grew past 400 MB in half a minute, every commit extending it. So when a checkpoint finds the WAL
 * long, the next one runs while this process's writes wait (asynchronously: reads go on), moves all
 * of it, and the first write after it starts the WAL over.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** Writes between checkpoints: about SQLite's default of 1,000 WAL pages at a few pages a write. */
const COMMITS_PER_CHECKPOINT = 250;
const CHECKPOINT_INTERVAL_MS = 1_000;
/** WAL frames (pages) a checkpoint may find before the next one holds writes: 16 MB. */
const CATCH_UP_FRAMES = 4_000;

/**
 * Runs `work` while no write transaction of this process can be open or start (the SQLite store
 * holds its connection meanwhile).
 */
export type HoldWrites = (work: () => Promise<void>) => Promise<void>;

interface CheckpointResult {
  error: string | null;
  /** Frames in the WAL as the checkpoint found it. */
  frames: number;
}

// An eval'd CommonJS worker: it needs no file of its own, so it runs the same from src/ and dist/.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 5000');
parentPort.on('message', (message) => {
  if (message === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  let result = { error: null, frames: 0 };
  try {
    result.frames = db.pragma('wal_checkpoint(PASSIVE)')[0].log;
  } catch (failure) {
    result.error = String(failure && failure.message);
  }
  parentPort.postMessage(result);
});
`;

export class Checkpointer {
  readonly #worker: Worker;
  readonly #timer: NodeJS.Timeout;
  readonly #exited: Promise<void>;
  #commits = 0;
  #busy = false;
  #closing = false;
  #dead: Error | null = null;
  readonly #onResult: (error: Error | null) => void;
  readonly #holdWrites: HoldWrites | null;
  /** The last checkpoint found a long WAL: the next one holds writes. */
  #catchUp = false;
  /** Resolves a held checkpoint's wait when the worker answers (or is gone). */
  #answered: (() => void) | null = null;

  /**
   * `onResult` hears of every checkpoint: null when it worked, else what went wrong. Without
   * `holdWrites` checkpoints never hold writes, and the WAL may grow under steady writes.
   */
  constructor(path: string, onResult: (error: Error | null) => void, holdWrites: HoldWrites | null = null) {
    this.#onResult = onResult;
    this.#holdWrites = holdWrites;
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, driver } });
    this.#worker.unref();
    this.#exited = new Promise((resolve) => this.#worker.once('exit', () => resolve()));
    this.#worker.on('message', ({ error, frames }: CheckpointResult) => {
      this.#busy = false;
      // A held checkpoint moved everything, however long it found the WAL: the next write starts it over.
      this.#catchUp = error === null && frames >= CATCH_UP_FRAMES && this.#answered === null;
      this.#settle();
      onResult(error === null ? null : new Error(`WAL checkpoint failed: ${error}`));
    });
    // A worker that died checkpoints no more: every later attempt says so, not just the first.
    this.#worker.on('error', (error: unknown) => {
      // What a worker throws arrives as a copy, not always an Error (better-sqlite3's SqliteError).
      const detail = error instanceof Error ? error.message : JSON.stringify(error);
      this.#dead = new Error(`the WAL checkpoint worker failed: ${detail}`, { cause: error });
    });
    void this.#exited.then(() => {
      this.#settle();
      this.#dead ??= new Error('the WAL checkpoint worker stopped');
      if (!this.#closing) onResult(this.#dead);
    });
    this.#timer = setInterval(() => {
      if (this.#commits > 0) this.#checkpoint();
    }, CHECKPOINT_INTERVAL_MS);
    this.#timer.unref();
  }

  /** Counts a commit (of `writes` writes), and asks for a checkpoint when enough have gathered. */
  committed(writes = 1): void {
    this.#commits += writes;
    if (this.#commits >= COMMITS_PER_CHECKPOINT) this.#checkpoint();
  }

  close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      clearInterval(this.#timer);
      // Unreferenced, the worker would let a process with nothing else to do end before the close
      // finishes (Node then exits with 13, a top-level await that never settled).
      this.#worker.ref();
      this.#worker.postMessage('close');
    }
    return this.#exited;
  }

  #checkpoint(): void {
    if (this.#closing) return;
    if (this.#dead !== null) {
      this.#onResult(this.#dead);
      return;
    }
    if (this.#busy) return;
    this.#busy = true;
    this.#commits = 0;
    if (!this.#catchUp || this.#holdWrites === null) {
      this.#worker.postMessage('checkpoint');
      return;
    }
    // Writes wait until the worker answers: nothing is added to the WAL while it moves the rest.
    void this.#holdWrites(
      () =>
        new Promise<void>((resolve) => {
          // Closed or dead while waiting for the writes to stop: no answer would come.
          if (this.#closing || this.#dead !== null) {
            this.#busy = false;
            resolve();
            return;
          }
          this.#answered = resolve;
          this.#worker.postMessage('checkpoint');
        }),
    ).catch((error: unknown) => {
      this.#busy = false;
      this.#onResult(error instanceof Error ? error : new Error(String(error)));
    });
  }

  #settle(): void {
    const answered = this.#answered;
    this.#answered = null;
    answered?.();
  }
}
