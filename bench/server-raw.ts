/**
 * The machine's raw rates for the server benchmark, in a process of its own that runs where the
 * server runs (the benchmark pins it to core 0, with the same environment). When ready it prints
 * `{"hashConcurrency":N,"argon2":{…}}`; then it answers each line of stdin, `{"op":"commit"|"argon2",
 * "seconds":S}`, with one line: its `Outcome` (operations, perSec, p99Ms).
 *
 *   commit   better-sqlite3 on a file in a fresh temporary directory, opened as Latchkey opens its
 *            store (WAL, synchronous=FULL); a table of 16 rows; `UPDATE … SET n = n + 1 WHERE id = ?
 *            RETURNING n`, each its own transaction, one after the other, the rows in turn
 *   argon2   @node-rs/argon2 `verify` of a hash made with the server's parameters, as many in flight as
 *            `concurrency`, by default the server's hash concurrency (LATCHKEY_HASH_CONCURRENCY, or its
 *            default for the CPUs this process may use, which are the server's)
 *   postgres-commit   with BENCH_RAW_POSTGRES_URL set (bench:store): `clients` node-postgres clients on
 *            that database, a table of one row per client; each client runs `UPDATE … SET n = n + 1
 *            WHERE id = $1 RETURNING n` on its own row, each statement its own transaction, one after
 *            the other
 *
 *   node --import tsx bench/server-raw.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { verify } from '@node-rs/argon2';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { PasswordHasher } from '../src/auth/passwords.js';
import type { Outcome } from './http-load.js';
import { Latencies } from './latencies.js';
import { type ServerHashing, serverHashing } from './server-hashing.js';

const RAW_ROWS = 16;
const PASSWORD = 'bench-raw-password-0123456789';

export interface RawRequest {
  op: 'commit' | 'argon2' | 'postgres-commit';
  seconds: number;
  /** argon2: verifications in flight (default: the hash concurrency); postgres-commit: clients. */
  concurrency?: number;
}

/** Its first line: how it hashes, which is how the server does. */
export type RawHello = ServerHashing;

/** Counted and timed here, in the process that did the work. */
function outcomeOf(latencies: Latencies, elapsedMs: number): Outcome {
  return {
    operations: latencies.count,
    perSec: latencies.count / (elapsedMs / 1000),
    p99Ms: latencies.percentile(99),
    failures: 0,
  };
}

const directory = mkdtempSync(join(tmpdir(), 'latchkey-bench-raw-'));
const database = new BetterSqlite3(join(directory, 'raw.sqlite'));
database.pragma('journal_mode = WAL');
database.pragma('synchronous = FULL');
database.exec('CREATE TABLE counters (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)');
const insert = database.prepare('INSERT INTO counters (id, n) VALUES (?, 0)');
for (let id = 1; id <= RAW_ROWS; id++) insert.run(id);
const update = database.prepare('UPDATE counters SET n = n + 1 WHERE id = ? RETURNING n');

/** Autocommit: every statement is its own transaction, committed (and synced) before the next. */
function commits(seconds: number): Outcome {
  const latencies = new Latencies();
  const started = performance.now();
  const end = started + seconds * 1000;
  let now = started;
  for (let i = 0; now < end; i++) {
    update.get((i % RAW_ROWS) + 1);
    const after = performance.now();
    latencies.add(after - now);
    now = after;
  }
  return outcomeOf(latencies, now - started);
}

const hashing = serverHashing(process.env);
const hasher = new PasswordHasher({ argon2: hashing.argon2 });
const storedHash = await hasher.hash(PASSWORD);
if (!(await verify(storedHash, PASSWORD))) throw new Error('argon2id: the password does not verify');

async function verifications(seconds: number, concurrency: number): Promise<Outcome> {
  const latencies = new Latencies();
  const started = performance.now();
  const end = started + seconds * 1000;
  const loop = async () => {
    while (performance.now() < end) {
      const before = performance.now();
      await verify(storedHash, PASSWORD);
      latencies.add(performance.now() - before);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return outcomeOf(latencies, performance.now() - started);
}

const postgresURL = process.env.BENCH_RAW_POSTGRES_URL;
const postgresClients: pg.Client[] = [];

/** One client per row; the table is made (again) for the largest client count asked. */
async function postgresCommits(seconds: number, clients: number): Promise<Outcome> {
  if (postgresURL === undefined) throw new Error('postgres-commit needs BENCH_RAW_POSTGRES_URL');
  while (postgresClients.length < clients) {
    const client = new pg.Client({ connectionString: postgresURL });
    await client.connect();
    postgresClients.push(client);
  }
  const [first] = postgresClients as [pg.Client];
  await first.query('CREATE TABLE IF NOT EXISTS bench_raw_counters (id int PRIMARY KEY, n bigint NOT NULL)');
  await first.query(
    'INSERT INTO bench_raw_counters SELECT id, 0 FROM generate_series(1, $1::int) AS id ON CONFLICT DO NOTHING',
    [clients],
  );
  const latencies = new Latencies();
  const started = performance.now();
  const end = started + seconds * 1000;
  const loop = async (client: pg.Client, id: number) => {
    while (performance.now() < end) {
      const before = performance.now();
      await client.query('UPDATE bench_raw_counters SET n = n + 1 WHERE id = $1 RETURNING n', [id]);
      latencies.add(performance.now() - before);
    }
  };
  await Promise.all(postgresClients.slice(0, clients).map((client, index) => loop(client, index + 1)));
  return outcomeOf(latencies, performance.now() - started);
}

function answer(request: RawRequest): Outcome | Promise<Outcome> {
  switch (request.op) {
    case 'commit':
      return commits(request.seconds);
    case 'argon2':
      return verifications(request.seconds, request.concurrency ?? hashing.hashConcurrency);
    case 'postgres-commit':
      return postgresCommits(request.seconds, request.concurrency ?? 16);
  }
}

function cleanUp(): void {
  database.close();
  rmSync(directory, { recursive: true, force: true });
}

// However this process ends (the benchmark done, stopped, or gone with the pipe it reads answers from).
process.once('exit', cleanUp);
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => process.exit(0));
process.stdout.on('error', () => process.exit(0));
const hello: RawHello = hashing;
process.stdout.write(`${JSON.stringify(hello)}\n`);
for await (const line of createInterface({ input: process.stdin })) {
  const outcome = await answer(JSON.parse(line) as RawRequest);
  process.stdout.write(`${JSON.stringify(outcome)}\n`);
}
