/**
 * `latchkey migrate`: brings the configured database's schema up to date and says what it did.
 * Opening the store runs the migrations (under a lock, so a starting server and this command cannot
 * both apply one); the applied migrations are read before and after to report the difference.
 */
import { existsSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import type { Command } from 'commander';
import pg from 'pg';
import type { ServerConfig } from '../../server/config.js';
import type { CLIContext } from '../context.js';

export function registerMigrateCommand(program: Command, context: CLIContext): void {
  program
    .command('migrate')
    .description('create or update the database schema (the server also does this at start)')
    .action(async () => {
      const config = context.config();
      // undefined: not known (the first read failed where the store's own opening did not).
      let before: string[] | null | undefined;
      try {
        before = await appliedMigrations(config);
      } catch {
        // A database that cannot be opened: the store's own error (next) says why, for people.
        before = undefined;
      }
      await context.withStore(async () => {}, 'create');
      const after = await appliedMigrations(config);
      const where = describeDatabase(config);
      if (config.database.kind === 'sqlite' && config.database.path === ':memory:') {
        context.print(`${where}: migrations ran, but an in-memory database keeps nothing after this command`);
        return;
      }
      const latest = after?.at(-1) ?? 'none';
      if (before === undefined) {
        context.print(`${where}: schema at ${latest}`);
        return;
      }
      const applied = (after ?? []).filter((name) => !(before ?? []).includes(name));
      if (before === null) context.print(`created ${where}`);
      for (const name of applied) context.print(`applied migration ${name}`);
      context.print(
        applied.length === 0 ? `${where} is up to date (schema ${latest})` : `schema is now at ${latest}`,
      );
    });
}

function describeDatabase(config: ServerConfig): string {
  return config.database.kind === 'sqlite'
    ? `SQLite database ${config.database.path}`
    : 'PostgreSQL database';
}

/**
 * The names of the migrations applied, or null when there is no SQLite file (or it is in memory). The
 * store does not report what it migrated, so this reads Kysely's bookkeeping table; on PostgreSQL the
 * one in the URL's current schema, where the store keeps it.
 */
async function appliedMigrations(config: ServerConfig): Promise<string[] | null> {
  if (config.database.kind === 'postgres') return appliedOnPostgres(config.database.url);
  if (config.database.path === ':memory:') return null;
  if (!existsSync(config.database.path)) return null;
  const db = new BetterSqlite3(config.database.path, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const table = db
      .prepare("select 1 from sqlite_master where type = 'table' and name = 'kysely_migration'")
      .get();
    if (table === undefined) return [];
    const rows = db.prepare('select name from kysely_migration order by name').all() as { name: string }[];
    return rows.map((row) => row.name);
  } finally {
    db.close();
  }
}

async function appliedOnPostgres(url: string): Promise<string[]> {
  // As the store connects: bounded, and a connection dropped meanwhile is an error, not a crash.
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  client.on('error', () => {});
  await client.connect();
  try {
    const found = await client.query<{ name: string | null }>(
      "select to_regclass(quote_ident(current_schema()) || '.kysely_migration')::text as name",
    );
    if (found.rows[0]?.name == null) return [];
    const rows = await client.query<{ name: string }>(`select name from ${found.rows[0].name} order by name`);
    return rows.rows.map((row) => row.name);
  } finally {
    await client.end();
  }
}
