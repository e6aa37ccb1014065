import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Checkpointer, type HoldWrites } from '../../src/store/sql/checkpointer.js';
import { openSQLiteStore } from '../../src/store/sql/sqlite.js';
import { recordFailure } from '../support/counters.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'latchkey-checkpoint-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Resolves with the next result `results` hears of. */
function nextResult(results: Array<(error: Error | null) => void>): Promise<Error | null> {
  return new Promise((resolve) => results.push(resolve));
}

/** Enough commits for `checkpointer` to ask for a checkpoint at once. */
function askForCheckpoint(checkpointer: Checkpointer): void {
  for (let i = 0; i < 250; i++) checkpointer.committed();
}

/**
 * A checkpointer on `path` whose results come, in order, to the promises `result()` returns;
 * `checkpoint()` asks for one at once and resolves with how it went.
 */
function watchedCheckpointer(path: string, holdWrites: HoldWrites | null = null) {
  const waiters: Array<(error: Error | null) => void> = [];
  const checkpointer = new Checkpointer(path, (error) => waiters.shift()?.(error), holdWrites);
  const result = () => nextResult(waiters);
  return {
    checkpointer,
    result,
    checkpoint(): Promise<Error | null> {
      const next = result();
      askForCheckpoint(checkpointer);
      return next;
    },
  };
}

/** A database in `name` whose WAL holds over 4,000 frames that no checkpoint has moved yet. */
async function longWal(name: string) {
  const path = join(dir, name, 'latchkey.db');
  await mkdir(dirname(path), { recursive: true });
  const writer = new BetterSqlite3(path);
  writer.pragma('journal_mode = WAL');
  writer.pragma('wal_autocheckpoint = 0');
  writer.exec('create table t (x blob)');
  const insert = writer.prepare('insert into t values (zeroblob(4000))');
  writer.transaction(() => {
    for (let i = 0; i < 4_100; i++) insert.run();
  })();
  return { path, writer, insert };
}

describe('WAL checkpoints', () => {
  it('move committed pages into the database file from the worker, not the committing connection', async () => {
    const path = join(dir, 'moved', 'latchkey.db');
    const waiters: Array<(error: Error | null) => void> = [];
    const store = await openSQLiteStore(path, { onCheckpoint: (error) => waiters.shift()?.(error) });
    try {
      const before = (await stat(path)).size;
      const result = nextResult(waiters);
      // Enough commits to ask for a checkpoint, with enough data that the file must grow.
      for (let i = 0; i < 260; i++) {
        await recordFailure(store, `login:${i}:${'x'.repeat(400)}`, 60_000, 1_700_000_000_000);
      }
      expect(await result).toBeNull();
      expect((await stat(path)).size).toBeGreaterThan(before);
    } finally {
      await store.close();
    }
    const check = new BetterSqlite3(path, { readonly: true });
    try {
      expect(check.prepare('select count(*) as n from counters').get()).toEqual({ n: 260 });
    } finally {
      check.close();
    }
  });

  it('reports a worker that cannot open the database, again at every later attempt', async () => {
    const path = join(dir, 'a-directory');
    await mkdir(path);
    const { checkpointer, result, checkpoint } = watchedCheckpointer(path);
    try {
      const first = await result();
      expect(first).toBeInstanceOf(Error);
      expect(first?.message).toMatch(/^the WAL checkpoint worker failed: .*SQLITE_CANTOPEN/);
      expect(await checkpoint()).toBe(first);
    } finally {
      await checkpointer.close();
    }
  });

  it('holds writes for the checkpoint after one that found a long WAL, and then the WAL starts over', async () => {
    const { path, writer, insert } = await longWal('long');
    const held: string[] = [];
    const holdWrites = async (work: () => Promise<void>) => {
      held.push('held');
      await work();
      held.push('released');
    };
    const { checkpointer, checkpoint } = watchedCheckpointer(path, holdWrites);
    try {
      expect(await checkpoint()).toBeNull();
      expect(held).toEqual([]);
      expect(await checkpoint()).toBeNull();
      await new Promise((resolve) => setImmediate(resolve));
      expect(held).toEqual(['held', 'released']);
      // The first write after it starts the WAL over, and the next checkpoint runs beside the writes.
      insert.run();
      expect(await checkpoint()).toBeNull();
      expect(held).toEqual(['held', 'released']);
      const [after] = writer.pragma('wal_checkpoint(PASSIVE)') as { log: number }[];
      expect(after?.log).toBeLessThan(10);
    } finally {
      await checkpointer.close();
      writer.close();
    }
  });

  it('lets the writes go when it closes before the writes it waited for have stopped', async () => {
    const { path, writer } = await longWal('closing');
    let closed: () => void = () => {};
    const closing = new Promise<void>((resolve) => {
      closed = resolve;
    });
    let released = false;
    // The writes in flight end only after the checkpointer has closed.
    const holdWrites = async (work: () => Promise<void>) => {
      await closing;
      await work();
      released = true;
    };
    const { checkpointer, checkpoint } = watchedCheckpointer(path, holdWrites);
    try {
      expect(await checkpoint()).toBeNull();
      askForCheckpoint(checkpointer);
      await checkpointer.close();
      closed();
      await expect.poll(() => released, { timeout: 2_000 }).toBe(true);
    } finally {
      writer.close();
    }
  });
});
