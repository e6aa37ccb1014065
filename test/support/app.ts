/**
 * Test servers: a real app over a real SQLite store (in memory unless a path is given), with cheap
 * argon2 parameters so tests that log in many times stay fast. Everything else is the production path.
 */
import type { FastifyInstance } from 'fastify';
import { type BuildAppOptions, buildApp } from '../../src/server/app.js';
import { loadConfig, type ServerConfig } from '../../src/server/config.js';

/** argon2id at its cheapest: the code path is the same, only the cost differs. */
export const FAST_ARGON2 = { memoryCost: 1024, timeCost: 1, parallelism: 1 };

export function testConfig(env: Record<string, string> = {}): ServerConfig {
  return loadConfig({
    DATABASE_URL: 'sqlite::memory:',
    LATCHKEY_DATA_DIR: '/nonexistent-latchkey-test',
    ...env,
  });
}

export async function createTestApp(
  env: Record<string, string> = {},
  options: BuildAppOptions = {},
): Promise<FastifyInstance> {
  return buildApp(testConfig(env), { logger: false, argon2: FAST_ARGON2, background: false, ...options });
}

/** Headers of a same-origin browser POST for the default issuer (http://localhost:3000). */
export const SAME_ORIGIN = { origin: 'http://localhost:3000' };
