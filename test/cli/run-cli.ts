/**
 * Runs `latchkey` commands in-process against a SQLite file in a fresh temp dir, with output captured
 * and cheap argon2, and opens the same database the way the server does for checks from outside.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buildProgram, type CLIOptions } from '../../src/cli/main.js';
import { loadConfig } from '../../src/server/config.js';
import { createRuntime, type Runtime } from '../../src/server/runtime.js';
import { FAST_ARGON2 } from '../support/app.js';

export interface CLIResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface TestDatabase {
  env: Record<string, string>;
  /** Runs one command line; `stdin` is what a pipe would deliver. */
  run(args: string[], options?: { stdin?: string } & CLIOptions): Promise<CLIResult>;
  /** A runtime on the same database, as a server would have it; closed again after `work`. */
  withRuntime<T>(work: (runtime: Runtime) => Promise<T>): Promise<T>;
  remove(): Promise<void>;
}

/** Runs one command line in-process with this environment; `stdin` is what a pipe would deliver. */
export async function runCLI(
  args: string[],
  env: Record<string, string>,
  { stdin, ...options }: { stdin?: string } & CLIOptions = {},
): Promise<CLIResult> {
  let stdout = '';
  let stderr = '';
  const io = {
    stdout: (text: string) => {
      stdout += text;
    },
    stderr: (text: string) => {
      stderr += text;
    },
    env,
    stdin: Readable.from(stdin === undefined ? [] : [Buffer.from(stdin)]),
  };
  const code = await buildProgram(io, { argon2: FAST_ARGON2, ...options }).run(args);
  return { code, stdout, stderr };
}

/** A runtime as a server would have it on `env` (cheap argon2, no timers), closed again after `work`. */
export async function withRuntimeOn<T>(
  env: Record<string, string>,
  work: (runtime: Runtime) => Promise<T>,
): Promise<T> {
  const runtime = await createRuntime(loadConfig(env), { argon2: FAST_ARGON2, background: false });
  try {
    return await work(runtime);
  } finally {
    await runtime.close();
  }
}

export async function createTestDatabase(extraEnv: Record<string, string> = {}): Promise<TestDatabase> {
  const dir = await mkdtemp(join(tmpdir(), 'latchkey-cli-'));
  const env = { DATABASE_URL: `sqlite:${join(dir, 'x.sqlite')}`, LATCHKEY_DATA_DIR: dir, ...extraEnv };
  return {
    env,
    run: (args, { stdin, ...options } = {}) =>
      runCLI(args, env, { ...options, ...(stdin === undefined ? {} : { stdin }) }),
    withRuntime: (work) => withRuntimeOn(env, work),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

export const CLIENT = { ip: '127.0.0.1', userAgent: 'vitest' };
export const PASSWORD = 'correct horse battery staple';
