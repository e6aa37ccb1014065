/**
 * A Latchkey server process started the way `npm start` starts one (compiled: `node
 * dist/server/main.js`), with its own port, data directory and issuer, serving the web UI that
 * test/global-setup.ts built into dist/web.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../e2e/support.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const WEB_INDEX = join(ROOT, 'dist', 'web', 'index.html');

export interface UIServer {
  baseUrl: string;
  /** LATCHKEY_DATA_DIR: latchkey.sqlite there holds the signing keys (PEM, with no master key set). */
  dataDir: string;
  close(): Promise<void>;
}

/** Resolves when the process says it listens; rejects with its output when it exits first. */
function listening(child: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(
      () => fail(new Error(`no "listening" within ${timeoutMs} ms:\n${output}`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (output.includes('Latchkey is listening on')) done();
    };
    const onExit = (code: number | null) =>
      fail(new Error(`the server exited (${code}) before listening:\n${output}`));
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

export async function startUIServer(env: Record<string, string> = {}): Promise<UIServer> {
  if (!existsSync(WEB_INDEX)) throw new Error(`${WEB_INDEX} is missing: the web UI was not built`);
  const dataDir = await mkdtemp(join(tmpdir(), 'latchkey-ui-'));
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    const child = spawn(process.execPath, ['--enable-source-maps', 'dist/server/main.js'], {
      cwd: ROOT,
      env: {
        ...process.env,
        PORT: String(port),
        HOST: '127.0.0.1',
        LATCHKEY_DATA_DIR: dataDir,
        LATCHKEY_ISSUER: baseUrl,
        LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      await listening(child, 30_000);
    } catch (error) {
      child.kill('SIGKILL');
      // Someone took the port between the probe and the listen: another port.
      if (attempt < 5 && String(error).includes('EADDRINUSE')) continue;
      await rm(dataDir, { recursive: true, force: true });
      throw error;
    }
    // Keep reading, so a chatty server never blocks on a full pipe.
    child.stdout?.resume();
    child.stderr?.resume();
    return {
      baseUrl,
      dataDir,
      async close() {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = once(child, 'exit');
          child.kill('SIGTERM');
          await exited;
        }
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  }
}
