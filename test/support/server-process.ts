/**
 * A Latchkey server process started the way `npm start` starts one (compiled: `node
 * --enable-source-maps dist/server/main.js`), with its own port, its own fresh data directory (SQLite
 * in it) and, unless the caller names another, its own URL as issuer. The browser tests, the
 * multi-instance tests and the server benchmark run it; the caller makes sure dist/ is built.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const SERVER_MAIN = join('dist', 'server', 'main.js');

export interface LatchkeyProcessOptions {
  /** The environment `env` is added to; default this process's. */
  baseEnv?: NodeJS.ProcessEnv;
  /** Added to the base environment; `undefined` removes a variable. */
  env?: Readonly<Record<string, string | undefined>>;
  /** A command the server runs under, such as `['taskset', '-c', '0']`; it must exec the server. */
  launcher?: readonly string[];
  /**
   * The script and its arguments, relative to the repository: default `dist/server/main.js`; say
   * `['bin/latchkey.js', 'serve', '--workers', '2']` for a cluster, whose primary gets SIGTERM.
   */
  entry?: readonly string[];
}

export interface LatchkeyProcess {
  /**
   * `http://127.0.0.1:PORT`, where it listens: also the issuer, and so the audience and the allowed
   * origin, unless `env` set LATCHKEY_ISSUER.
   */
  baseUrl: string;
  /** LATCHKEY_DATA_DIR: latchkey.sqlite there holds the signing keys (PEM, with no master key set). */
  dataDir: string;
  pid: number;
  /** The last 20 000 characters it wrote to stdout and stderr, for a failing test to show. */
  output(): string;
  /** Sends `signal` (default SIGKILL) and resolves once the process has exited; its data dir stays. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  close(): Promise<void>;
  /** Kills the server and removes its data dir without waiting: for an exit handler. */
  abandon(): void;
}

const OUTPUT_KEPT = 20_000;

/** Keeps the tail of what the child writes, and keeps reading so it never blocks on a full pipe. */
function recordOutput(child: ChildProcess): () => string {
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_KEPT);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => output;
}

/** Resolves when the process says it listens; rejects with its output when it exits first. */
function listening(child: ChildProcess, output: () => string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new Error(`no "listening" within ${timeoutMs} ms:\n${output()}`)),
      timeoutMs,
    );
    const onData = () => {
      if (output().includes('Latchkey is listening on')) done();
    };
    const onExit = (code: number | null) =>
      fail(new Error(`the server exited (${code}) before listening:\n${output()}`));
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
    };
    const done = () => {
      cleanup();
      resolve();
    };
    const fail = (error: Error) => {
      cleanup();
      reject(error);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

export async function startLatchkeyProcess(options: LatchkeyProcessOptions = {}): Promise<LatchkeyProcess> {
  const dataDir = await mkdtemp(join(tmpdir(), 'latchkey-process-'));
  const [command, ...args] = [
    ...(options.launcher ?? []),
    process.execPath,
    '--enable-source-maps',
    ...(options.entry ?? [SERVER_MAIN]),
  ];
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    const child = spawn(command as string, args, {
      cwd: ROOT,
      env: {
        ...(options.baseEnv ?? process.env),
        PORT: String(port),
        HOST: '127.0.0.1',
        LATCHKEY_DATA_DIR: dataDir,
        LATCHKEY_ISSUER: baseUrl,
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output = recordOutput(child);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      await listening(child, output, 30_000);
    } catch (error) {
      child.kill('SIGKILL');
      // Someone took the port between the probe and the listen: another port.
      if (attempt < 5 && String(error).includes('EADDRINUSE')) continue;
      await rm(dataDir, { recursive: true, force: true });
      throw error;
    }
    const running = () => child.exitCode === null && child.signalCode === null;
    return {
      baseUrl,
      dataDir,
      pid: child.pid as number,
      output,
      async kill(signal = 'SIGKILL') {
        if (running()) child.kill(signal);
        await exited;
      },
      async close() {
        if (running()) child.kill('SIGTERM');
        await exited;
        await rm(dataDir, { recursive: true, force: true });
      },
      abandon() {
        // Not SIGTERM: an exit handler cannot wait for a graceful shutdown.
        child.kill('SIGKILL');
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  }
}
