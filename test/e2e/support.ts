/**
 * Helpers for the end-to-end tests: a real Latchkey app on a real socket and a real SQLite file, and a
 * small JSON client over the global fetch. The issuer is the URL the server actually listens on, so
 * `iss`, `aud` and the allowed Origin are what a browser on that page would see. For tests of several
 * instances: compiled servers, each its own process, the compiled `latchkey` command, and what makes
 * them one deployment, with a client for its API.
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';
import { type BuildAppOptions, buildApp } from '../../src/server/app.js';
import { FAST_ARGON2, testConfig } from '../support/app.js';
import { freePort } from '../support/ports.js';
import { type LatchkeyProcess, ROOT, startLatchkeyProcess } from '../support/server-process.js';

export { freePort } from '../support/ports.js';
export type { LatchkeyProcess } from '../support/server-process.js';

export interface RunningServer {
  app: FastifyInstance;
  /** `http://127.0.0.1:PORT`: the issuer, the audience and the one allowed origin. */
  baseUrl: string;
  dataDir: string;
  close(): Promise<void>;
}

function isAddressInUse(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'EADDRINUSE';
}

/**
 * Starts a server on 127.0.0.1 with its issuer set to its own URL and a fresh SQLite file in a
 * temporary data directory. Cheap argon2 unless `options.argon2` says otherwise.
 */
export async function startServer(
  env: Record<string, string> = {},
  options: BuildAppOptions = {},
): Promise<RunningServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'latchkey-e2e-'));
  try {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const baseUrl = `http://127.0.0.1:${port}`;
      const config = testConfig({
        PORT: String(port),
        HOST: '127.0.0.1',
        LATCHKEY_ISSUER: baseUrl,
        LATCHKEY_DATA_DIR: dataDir,
        DATABASE_URL: `sqlite:${join(dataDir, 'latchkey.sqlite')}`,
        ...env,
      });
      const app = await buildApp(config, { logger: false, argon2: FAST_ARGON2, ...options });
      try {
        await app.listen({ host: '127.0.0.1', port });
      } catch (error) {
        await app.close();
        if (isAddressInUse(error) && attempt < 5) continue;
        throw error;
      }
      return {
        app,
        baseUrl,
        dataDir,
        async close() {
          try {
            await app.close();
          } finally {
            await rm(dataDir, { recursive: true, force: true });
          }
        },
      };
    }
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
}

export interface JSONResponse {
  status: number;
  headers: Headers;
  /** The parsed body, or `null` when there is none (204). */
  body: Record<string, unknown> | null;
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
  bearer?: string;
}

/** One request with an optional JSON body; the answer's body is parsed when it has one. */
export async function request(
  baseUrl: string,
  path: string,
  options: RequestOptions = {},
): Promise<JSONResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.bearer !== undefined) headers.authorization = `Bearer ${options.bearer}`;
  const init: RequestInit = { method: options.method ?? 'GET', headers };
  if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(options.body);
  }
  const response = await fetch(new URL(path, baseUrl), init);
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text === '' ? null : (JSON.parse(text) as Record<string, unknown>),
  };
}

/** A string field of a JSON body, failing loudly (with the whole body) when it is not there. */
export function field(response: JSONResponse, name: string): string {
  const value = response.body?.[name];
  if (typeof value !== 'string') {
    throw new Error(
      `expected a string "${name}" in a ${response.status} answer: ${JSON.stringify(response.body)}`,
    );
  }
  return value;
}

/** The claims of a JWT, read without verifying it (the tests verify elsewhere). */
export function claimsOf(token: string): Record<string, unknown> {
  const payload = token.split('.')[1] ?? '';
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** This machine's environment minus any Latchkey setting that would leak into a spawned server. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (/^(LATCHKEY_|DATABASE_URL$|REDIS_URL$|PORT$|HOST$|LOG_LEVEL$|NODE_OPTIONS$|VITEST)/.test(name))
      continue;
    env[name] = value;
  }
  return env;
}

/**
 * `count` compiled servers (dist/), each its own process on its own loopback port, all with `env` on
 * top of `cleanEnv()`: one DATABASE_URL and one LATCHKEY_ISSUER make them one deployment. They start
 * at once, as instances of a deployment do; if one fails, the others are stopped.
 */
export async function startInstances(
  count: number,
  env: Readonly<Record<string, string>>,
): Promise<LatchkeyProcess[]> {
  const started = await Promise.allSettled(
    Array.from({ length: count }, () => startLatchkeyProcess({ baseEnv: cleanEnv(), env })),
  );
  const failure = started.find((result) => result.status === 'rejected');
  if (failure === undefined)
    return started.map((result) => (result as PromiseFulfilledResult<LatchkeyProcess>).value);
  await Promise.all(
    started.map((result) => (result.status === 'fulfilled' ? result.value.close() : undefined)),
  );
  throw (failure as PromiseRejectedResult).reason;
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the compiled `latchkey` command (bin/latchkey.js) in a process of its own, as an operator runs
 * it next to running servers: `env` on top of `cleanEnv()`.
 */
export function runLatchkeyCommand(
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  timeoutMs = 30_000,
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'latchkey.js'), ...args], {
      cwd: ROOT,
      env: { ...cleanEnv(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Asks `check` every `intervalMs` until it holds, for at most `timeoutMs`: how many milliseconds after
 * `since` it first held, or Infinity when it never did.
 */
export async function msUntil(
  check: () => Promise<boolean>,
  since: number,
  timeoutMs = 3000,
  intervalMs = 25,
): Promise<number> {
  while (Date.now() - since < timeoutMs) {
    if (await check()) return Date.now() - since;
    await sleep(intervalMs);
  }
  return Number.POSITIVE_INFINITY;
}

/*
 * One deployment of several instances sharing one PostgreSQL schema, as machines behind a load
 * balancer would (test/e2e/multi-instance*.test.ts).
 *
 * The shared issuer. Behind a load balancer every instance must publish the same issuer, the URL
 * clients reach the balancer at, or a token from one would be refused by the next (`iss`, `aud`) and
 * each would publish its own discovery document. So all of them get LATCHKEY_ISSUER=ISSUER (a name
 * under the reserved `.test` domain: nothing here resolves it, as the tests talk to each instance's
 * own port the way the balancer would), LATCHKEY_TRUST_PROXY, since the client address arrives in
 * X-Forwarded-For, and one LATCHKEY_MASTER_KEY, since every instance reads the keys any of them wrote.
 */

export const ISSUER = 'https://auth.latchkey.test';
export const PASSWORD = 'correct horse battery staple';
/** Short, so that reusing a rotated refresh token can be tested without a long wait. */
export const REFRESH_GRACE_SECONDS = 1;
/** How soon every instance must know of a revocation made through another (DESIGN "Tokens"). */
export const PROPAGATION_MS = 1000;
/** Failed logins per account and address before back-off (DEFAULT_THROTTLE.pairFreeFailures). */
export const FREE_FAILURES = 5;

/** What makes instances on `databaseUrl` one deployment; `extra` (such as REDIS_URL) on top. */
export function deploymentEnv(
  databaseUrl: string,
  extra: Readonly<Record<string, string>> = {},
): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    LATCHKEY_ISSUER: ISSUER,
    LATCHKEY_TRUST_PROXY: 'true',
    LATCHKEY_MASTER_KEY: randomBytes(32).toString('hex'),
    LATCHKEY_REFRESH_GRACE: String(REFRESH_GRACE_SECONDS),
    // Three pools on one server, beside other tests' pools: a few connections each are plenty.
    LATCHKEY_PG_POOL_SIZE: '4',
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

/** A client address of its own for every caller (X-Forwarded-For), so their limits never meet. */
let addresses = 0;
export function freshAddress(): string {
  addresses += 1;
  return `10.77.${Math.floor(addresses / 250)}.${(addresses % 250) + 1}`;
}

export function post(
  instance: LatchkeyProcess,
  path: string,
  body: unknown,
  address: string,
): Promise<JSONResponse> {
  return request(instance.baseUrl, path, { method: 'POST', body, headers: { 'x-forwarded-for': address } });
}

/** A new account, registered through `instance`; its email. */
export async function register(instance: LatchkeyProcess, address: string): Promise<string> {
  const email = `${randomUUID()}@example.com`;
  const registered = await post(instance, '/auth/register', { email, password: PASSWORD }, address);
  expect(registered.status, JSON.stringify(registered.body)).toBe(201);
  return email;
}

export interface Tokens {
  accessToken: string;
  refreshToken: string;
}

export function tokensOf(response: JSONResponse): Tokens {
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return { accessToken: field(response, 'access_token'), refreshToken: field(response, 'refresh_token') };
}

export function loginAttempt(
  instance: LatchkeyProcess,
  email: string,
  password: string,
  address: string,
): Promise<JSONResponse> {
  return post(instance, '/auth/login', { email, password, refresh_in: 'body' }, address);
}

export async function login(instance: LatchkeyProcess, email: string, address: string): Promise<Tokens> {
  return tokensOf(await loginAttempt(instance, email, PASSWORD, address));
}

export function refresh(
  instance: LatchkeyProcess,
  refreshToken: string,
  address: string,
): Promise<JSONResponse> {
  return post(instance, '/auth/refresh', { refresh_token: refreshToken }, address);
}

export async function meStatus(instance: LatchkeyProcess, accessToken: string): Promise<number> {
  return (await request(instance.baseUrl, '/api/me', { bearer: accessToken })).status;
}

/** True when every instance answers /api/me for every token with `status`. */
export async function allAnswer(
  instances: readonly LatchkeyProcess[],
  tokens: readonly string[],
  status: number,
): Promise<boolean> {
  const statuses = await Promise.all(
    instances.flatMap((instance) => tokens.map((token) => meStatus(instance, token))),
  );
  return statuses.every((answer) => answer === status);
}

/** One line per measured propagation, so a run shows how close to the bound it came. */
export function reportPropagation(deployment: string, what: string, ms: number): void {
  process.stderr.write(`multi-instance on ${deployment}: ${what} after ${ms} ms\n`);
}

/**
 * A user with a session on each instance, then logout-all on the first: the sessions, and how long
 * the other instances took to refuse every one of their access tokens.
 */
export async function logoutAllOnFirst(
  all: readonly LatchkeyProcess[],
  address: string,
): Promise<{ sessions: Tokens[]; accessTokens: string[]; refusedAfterMs: number }> {
  const [first, ...others] = all as [LatchkeyProcess, ...LatchkeyProcess[]];
  const email = await register(first, address);
  const sessions: Tokens[] = [];
  for (const instance of all) sessions.push(await login(instance, email, address));
  const accessTokens = sessions.map((session) => session.accessToken);
  expect(await allAnswer(all, accessTokens, 200)).toBe(true);
  const loggedOut = await request(first.baseUrl, '/auth/logout-all', {
    method: 'POST',
    bearer: accessTokens[0] as string,
  });
  const loggedOutAt = Date.now();
  expect(loggedOut.status).toBe(204);
  const refusedAfterMs = await msUntil(() => allAnswer(others, accessTokens, 401), loggedOutAt);
  return { sessions, accessTokens, refusedAfterMs };
}
