/**
 * Store benchmark (issue #11): refreshes/s and logins/s of the compiled server on SQLite and on
 * PostgreSQL, with 1 and 2 workers (`latchkey serve --workers 2`), 16 clients each, beside the raw
 * single-row `UPDATE … RETURNING` commit rate of each database at the same client count and argon2id
 * verifications/s at the workers' hash concurrency.
 *
 *   npm run bench:store                       5 rounds × 3 s per variant, about 4 minutes
 *   npm run bench:store -- --quick            2 rounds × 1 s, about a minute
 *   npm run bench:store -- --rounds N --duration SECONDS --warmup SECONDS
 *   npm run bench:store -- --json FILE        also write {"results":[{store, workers, op, impl, perSec, p99Ms}, …]}
 *
 * PostgreSQL is the machine's server at 127.0.0.1:5432, database `test` (PGlite when none answers,
 * which says nothing about speed): each server, and the raw rate, gets a fresh schema, dropped after.
 * Four servers run at once (SQLite and PostgreSQL, 1 and 2 workers), each with its own 16 users, and
 * rounds alternate between all variants as bench:server's do. Nothing is pinned: the workers of a
 * server, PostgreSQL and the clients share the machine's cores, as they would in production.
 */
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { type PostgresTarget, resolvePostgresTarget, type TestDatabase } from '../test/support/postgres.js';
import { type LatchkeyProcess, SERVER_MAIN, startLatchkeyProcess } from '../test/support/server-process.js';
import { medianOf } from './http-load.js';
import { type ServerProcess, startServerProcess, stopProcesses } from './processes.js';
import {
  clientsRunner,
  ensureBuilt,
  measureRounds,
  type Runner,
  rawRunner,
  withRig,
  writeResults,
} from './runners.js';
import { clientSteps, LatchkeyClient, openSessions } from './server-clients.js';
import type { RawHello } from './server-raw.js';
import { describeSettings, readSettings, type Settings } from './settings.js';
import {
  allVariants,
  checkTargets,
  formatTable,
  formatTargets,
  STORES,
  type StoreResult,
  type StoreVariant,
  toJSON,
  variantKey,
  WORKER_COUNTS,
} from './store-report.js';

/** 12 variants × (1 s warm-up + 5 rounds × 3 s) ≈ 190 s of load, plus start-up. */
const FULL: Settings = { rounds: 5, durationSeconds: 3, warmupSeconds: 1 };
const QUICK: Settings = { rounds: 2, durationSeconds: 1, warmupSeconds: 0.5 };

/** The refresh and login clients per server; each has its own user and session. */
const CLIENTS = 16;

const RAW_ENTRY = fileURLToPath(new URL('./server-raw.ts', import.meta.url));

interface Rig {
  runners: Runner<StoreVariant>[];
  postgres: PostgresTarget;
  hashConcurrency: number;
  argon2: RawHello['argon2'];
  close(): Promise<void>;
  /** For an exit that cannot wait (a crash, Ctrl-C): kills every process and removes the data dirs. */
  abandon(): void;
}

/** The server's own defaults, the log level among them: only what the benchmark must fix is set. */
const SERVER_ENV = { LATCHKEY_ALG: 'ES256', LOG_LEVEL: undefined, NODE_ENV: 'production' };

async function startRig(): Promise<Rig> {
  const postgres = await resolvePostgresTarget();
  const databases: TestDatabase[] = [];
  const servers: LatchkeyProcess[] = [];
  const clients: LatchkeyClient[] = [];
  let raw: ServerProcess | null = null;
  const close = async () => {
    for (const client of clients) client.close();
    await stopProcesses(raw === null ? [] : [raw.child]);
    await Promise.all(servers.map((server) => server.close()));
    await Promise.all(databases.map((database) => database.drop()));
    await postgres.close();
  };
  const newDatabase = async () => {
    const database = await postgres.createDatabase();
    databases.push(database);
    return database;
  };
  try {
    const runners: Runner<StoreVariant>[] = [];
    for (const store of STORES) {
      for (const workers of WORKER_COUNTS) {
        const name = `${store}, ${workers} worker${workers === 1 ? '' : 's'}`;
        process.stderr.write(`${name}: starting, registering and logging in ${CLIENTS} users…\n`);
        const server = await startLatchkeyProcess({
          env: {
            ...SERVER_ENV,
            DATABASE_URL: store === 'postgres' ? (await newDatabase()).url : undefined,
          },
          ...(workers === 1 ? {} : { entry: ['bin/latchkey.js', 'serve', '--workers', String(workers)] }),
        });
        servers.push(server);
        const client = new LatchkeyClient(server.baseUrl, CLIENTS);
        clients.push(client);
        const steps = clientSteps(client, await openSessions(client, CLIENTS));
        for (const op of ['refresh', 'login'] as const) {
          const variant: StoreVariant = { store, workers, op, impl: 'latchkey' };
          runners.push(clientsRunner(variant, CLIENTS, server.pid, steps[op]));
        }
      }
    }
    const argv = [process.execPath, '--import', 'tsx', RAW_ENTRY];
    const rawEnv = { ...process.env, ...SERVER_ENV, BENCH_RAW_POSTGRES_URL: (await newDatabase()).url };
    raw = await startServerProcess('raw rates', argv, rawEnv, false);
    const { hashConcurrency, argon2 } = raw.hello as RawHello;
    runners.push(
      rawRunner({ store: 'sqlite', workers: null, op: 'refresh', impl: 'raw' }, raw, { op: 'commit' }),
      rawRunner({ store: 'postgres', workers: null, op: 'refresh', impl: 'raw' }, raw, {
        op: 'postgres-commit',
        concurrency: CLIENTS,
      }),
      ...WORKER_COUNTS.map((workers) =>
        rawRunner<StoreVariant>({ store: null, workers, op: 'login', impl: 'raw' }, raw as ServerProcess, {
          op: 'argon2',
          concurrency: workers * hashConcurrency,
        }),
      ),
    );
    const started = raw;
    const abandon = () => {
      started.child.kill('SIGKILL');
      for (const server of servers) server.abandon();
    };
    return { runners, postgres, hashConcurrency, argon2, close, abandon };
  } catch (error) {
    await close();
    throw error;
  }
}

function describeRun(settings: Settings, postgres: PostgresTarget): string {
  const cpus = os.cpus();
  return [
    `machine: ${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${os.platform()} ${os.arch()}; ` +
      `node ${process.version}; nothing pinned`,
    `PostgreSQL: ${postgres.description}${postgres.kind === 'pglite' ? ' (a fallback: its rows say nothing about speed)' : ''}`,
    describeSettings(settings),
  ].join('\n');
}

function notes(rig: Rig): string {
  const { memoryCost, timeCost, parallelism } = rig.argon2;
  return [
    'latchkey/s, raw/s: successful requests (commits, verifications) per second; p99: latency seen by the',
    `client (raw: by its loop). latchkey: ${SERVER_MAIN} (1 worker) or bin/latchkey.js serve --workers 2,`,
    'ES256, every other setting its default (PostgreSQL pool: 10 connections per worker). refresh, login:',
    `${CLIENTS} clients over keep-alive, cookie mode with Origin, each its own user; a refresh sends the`,
    'cookie the previous one returned, a login its own password.',
    '[1] better-sqlite3 on a file: WAL, synchronous=FULL, `UPDATE … SET n = n + 1 WHERE id = ? RETURNING n`,',
    '    each its own transaction, one after the other (as bench:server).',
    `[2] ${CLIENTS} node-postgres clients on the same server, each running \`UPDATE … SET n = n + 1 WHERE id = $1`,
    '    RETURNING n` on its own row, each statement its own transaction, one after the other.',
    `[3] @node-rs/argon2 verify: argon2id m=${memoryCost} KiB, t=${timeCost}, p=${parallelism} (the server’s ` +
      'parameters),',
    `    ${rig.hashConcurrency} in flight per worker (the server’s hash concurrency).`,
  ].join('\n');
}

async function main(): Promise<void> {
  const { settings, json } = readSettings(FULL, QUICK);
  ensureBuilt();
  const rig = await startRig();
  console.log(`${describeRun(settings, rig.postgres)}\n`);
  await withRig(rig, async (rig) => {
    const samples = await measureRounds(rig.runners, settings, variantKey);
    const results: StoreResult[] = allVariants().map((variant) => {
      const runs = samples.get(variantKey(variant)) ?? [];
      return {
        ...variant,
        perSec: Number(medianOf(runs, (run) => run.reqPerSec).toFixed(1)),
        p99Ms: Number(medianOf(runs, (run) => run.p99Ms).toFixed(3)),
      };
    });
    const rounds = (variant: StoreVariant) => samples.get(variantKey(variant))?.map((run) => run.reqPerSec);
    console.log(`${formatTable(results)}\n\n${notes(rig)}\n`);
    console.log(formatTargets(checkTargets(results, rounds)));
    writeResults(json, toJSON(results));
  });
}

await main();
