/**
 * The command line and the server's entry point with DATABASE_URL=postgres://…: both open the store
 * through src/store/open.ts, so what one writes the other reads, and a database that cannot be opened
 * is one line on stderr, not a stack trace.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/server/config.js';
import { createRuntime } from '../../src/server/runtime.js';
import { FAST_ARGON2 } from '../support/app.js';
import { freePort } from '../support/ports.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { CLIENT, PASSWORD, runCLI } from './run-cli.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const databases: TestDatabase[] = [];

afterAll(async () => {
  await Promise.all(databases.map((database) => database.drop()));
});

async function postgresEnv(): Promise<Record<string, string>> {
  const database = await createTestDatabase();
  databases.push(database);
  return { DATABASE_URL: database.url, LATCHKEY_DATA_DIR: '/nonexistent-latchkey-test' };
}

describe('latchkey on PostgreSQL', () => {
  it('migrates, adds a user, and a server on the same database logs it in', async () => {
    const env = await postgresEnv();
    const migrated = await runCLI(['migrate'], env);
    expect(migrated).toEqual({
      code: 0,
      stdout:
        'applied migration 0001_initial\napplied migration 0002_signing_key_revocation\n' +
        'applied migration 0003_user_roles\napplied migration 0004_revocation_feed_index\n' +
        'applied migration 0005_live_sessions_index\nschema is now at 0005_live_sessions_index\n',
      stderr: '',
    });
    expect(await runCLI(['migrate'], env)).toEqual({
      code: 0,
      stdout: 'PostgreSQL database is up to date (schema 0005_live_sessions_index)\n',
      stderr: '',
    });
    const added = await runCLI(['users', 'add', 'ann@example.com', '--password-stdin'], env, {
      stdin: `${PASSWORD}\n`,
    });
    expect(added.code).toBe(0);
    const listed = await runCLI(['users', 'list'], env);
    expect(listed.stdout).toContain('ann@example.com');

    const runtime = await createRuntime(loadConfig(env), { argon2: FAST_ARGON2, background: false });
    try {
      const issued = await runtime.service.login('ann@example.com', PASSWORD, CLIENT);
      expect(issued.accessToken).toEqual(expect.any(String));
      expect(await runtime.store.findSession(issued.sessionId)).toMatchObject({ revokedAt: null });
    } finally {
      await runtime.close();
    }
  });

  it('refuses to read a schema with no tables in it, and creates none', async () => {
    const database = await createTestDatabase();
    databases.push(database);
    const env = { DATABASE_URL: database.url, LATCHKEY_DATA_DIR: '/nonexistent-latchkey-test' };
    for (const args of [
      ['users', 'list'],
      ['keys', 'list'],
      ['keys', 'rotate'],
    ]) {
      expect(await runCLI(args, env), args.join(' ')).toEqual({
        code: 1,
        stdout: '',
        stderr: `latchkey: schema ${database.schema} holds no Latchkey database: start the server or run \`latchkey migrate\` to create one (ERR_STORE_DATABASE_MISSING)\n`,
      });
    }
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const tables = await client.query(
        'select count(*)::int as n from information_schema.tables where table_schema = $1',
        [database.schema],
      );
      expect(tables.rows[0]).toEqual({ n: 0 });
    } finally {
      await client.end();
    }
    expect((await runCLI(['migrate'], env)).code).toBe(0);
    expect(await runCLI(['users', 'list'], env)).toEqual({ code: 0, stdout: 'no users\n', stderr: '' });
  });

  it('says in one line why migrate cannot open the database, with exit code 1', async () => {
    const port = await freePort();
    const result = await runCLI(['migrate'], {
      DATABASE_URL: `postgres://latchkey:secret@127.0.0.1:${port}/latchkey`,
    });
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: `latchkey: cannot reach PostgreSQL at 127.0.0.1:${port}/latchkey: connect ECONNREFUSED 127.0.0.1:${port} (ERR_STORE_UNAVAILABLE)\n`,
    });
  });

  it('says in one line why the database cannot be opened, with exit code 1', async () => {
    const port = await freePort();
    const result = await runCLI(['users', 'list'], {
      DATABASE_URL: `postgres://latchkey:secret@127.0.0.1:${port}/latchkey`,
    });
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: `latchkey: cannot reach PostgreSQL at 127.0.0.1:${port}/latchkey: connect ECONNREFUSED 127.0.0.1:${port} (ERR_STORE_UNAVAILABLE)\n`,
    });
  });

  it('refuses a malformed URL as configuration, with exit code 2', async () => {
    const result = await runCLI(['users', 'list'], {
      DATABASE_URL: 'postgres://latchkey:50%off@db/latchkey',
    });
    expect(result).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'latchkey: invalid configuration: DATABASE_URL: the PostgreSQL URL is malformed: its password has a % that does not start an escape (write % as %25)\n',
    });
  });

  it('stops the server at start with one line and exit code 1 when the database cannot be reached', async () => {
    const port = await freePort();
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
    const failure = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/server/main.ts'], {
      cwd: REPO_ROOT,
      env: { ...env, PORT: '0', DATABASE_URL: `postgres://latchkey:secret@127.0.0.1:${port}/latchkey` },
      timeout: 20_000,
    }).catch((error: { code: number; stdout: string; stderr: string }) => error);
    expect(failure).toMatchObject({
      code: 1,
      stderr: `latchkey: cannot start: cannot reach PostgreSQL at 127.0.0.1:${port}/latchkey: connect ECONNREFUSED 127.0.0.1:${port} (ERR_STORE_UNAVAILABLE)\n`,
    });
  });
});
