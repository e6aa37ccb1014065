/**
 * Helpers for the end-to-end tests: a real Latchkey app on a real socket and a real SQLite file, and a
 * small JSON client over the global fetch. The issuer is the URL the server actually listens on, so
 * `iss`, `aud` and the allowed Origin are what a browser on that page would see. For tests of several
 * instances: compiled servers, each its own process, and the compiled `latchkey` command.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
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
