/**
 * Test servers: a real app over a real store, with cheap argon2 parameters so tests that log in many
 * times stay fast. Everything else is the production path. The store is SQLite in memory, or, when
 * LATCHKEY_TEST_STORE=postgres (the vitest project `postgres`), a fresh PostgreSQL schema per app, opened
 * from DATABASE_URL as a server opens it; a test that names its own DATABASE_URL or store keeps it.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll } from 'vitest';
import { type BuildAppOptions, buildApp } from '../../src/server/app.js';
import { loadConfig, type ServerConfig } from '../../src/server/config.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';

/** argon2id at its cheapest: the code path is the same, only the cost differs. */
export const FAST_ARGON2 = { memoryCost: 1024, timeCost: 1, parallelism: 1 };

export function testConfig(env: Record<string, string> = {}): ServerConfig {
  return loadConfig({
    DATABASE_URL: 'sqlite::memory:',
    LATCHKEY_DATA_DIR: '/nonexistent-latchkey-test',
    ...env,
  });
}

/** The store the app tests run on: `sqlite` (in memory) unless the environment says `postgres`. */
export const TEST_STORE = process.env.LATCHKEY_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';

const databases: TestDatabase[] = [];
if (TEST_STORE === 'postgres') {
  // After the test file: its apps are closed by then, and each schema goes with everything in it.
  afterAll(async () => {
    await Promise.all(databases.splice(0).map((database) => database.drop()));
  });
}

/** The environment that points an app at the test store: nothing for SQLite, a fresh schema for PostgreSQL. */
async function storeEnv(): Promise<Record<string, string>> {
  if (TEST_STORE === 'sqlite') return {};
  const database = await createTestDatabase();
  databases.push(database);
  return { DATABASE_URL: database.url, LATCHKEY_PG_POOL_SIZE: '4' };
}

export async function createTestApp(
  env: Record<string, string> = {},
  options: BuildAppOptions = {},
): Promise<FastifyInstance> {
  const ownStore = env.DATABASE_URL !== undefined || options.store !== undefined;
  const config = testConfig({ ...(ownStore ? {} : await storeEnv()), ...env });
  return buildApp(config, { logger: false, argon2: FAST_ARGON2, background: false, ...options });
}

/** Headers of a same-origin browser POST for the default issuer (http://localhost:3000). */
export const SAME_ORIGIN = { origin: 'http://localhost:3000' };
