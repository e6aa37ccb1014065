/**
 * A server whose standard output loses its reader (`npm start | head -1`, a log shipper that died:
 * EPIPE) keeps serving, and still stops on SIGTERM. The compiled server runs as a child process, as
 * `npm start` runs it, logging at info with the access log at info too, so that every request below
 * writes a line to the broken pipe. Its stdout is closed either before it writes anything (the start-up
 * line then meets the broken pipe) or once it has said it listens; its stderr is kept, to read the
 * one line that says the log is lost, or closed as well.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanEnv, freePort, sleep } from './support.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SERVER_MAIN = join('dist', 'server', 'main.js');
const READY_TIMEOUT_MS = 20_000;
const REQUEST_TIMEOUT_MS = 5_000;
/** SIGTERM to exit: a second or two on a busy machine (the store is closed on the way). */
const STOP_TIMEOUT_MS = 10_000;

interface Child {
  process: ChildProcess;
  baseUrl: string;
  /** Everything it wrote to stderr, once that is closed ('' when the test closed it). */
  stderr: Promise<string>;
  /** Resolves with the exit code or signal, however the process ends. */
  exited: Promise<number | string>;
}

const children = new Set<ChildProcess>();
const dataDirs: string[] = [];

afterEach(async () => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
  await Promise.all(dataDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** The environment of the child: this machine's, minus any Latchkey setting that would leak in. */
function childEnv(port: number, dataDir: string): NodeJS.ProcessEnv {
  return {
    ...cleanEnv(),
    HOST: '127.0.0.1',
    PORT: String(port),
    LATCHKEY_ISSUER: `http://127.0.0.1:${port}`,
    LATCHKEY_DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    LATCHKEY_ACCESS_LOG_LEVEL: 'info',
  };
}

async function fetchWithin(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
}

/**
 * Starts `node dist/server/main.js`, closes its stdout (`'at-start'`: before it can write anything;
 * `'after-listening'`: once it has said it listens) and its stderr too when asked, and resolves once
 * /healthz answers. The port is chosen here, since the line that would name it may be lost.
 */
async function startChild(closeStdout: 'at-start' | 'after-listening', closeStderr: boolean): Promise<Child> {
  const dataDir = await mkdtemp(join(tmpdir(), 'latchkey-broken-stdout-'));
  dataDirs.push(dataDir);
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [SERVER_MAIN], {
    cwd: REPO_ROOT,
    env: childEnv(port, dataDir),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve(code ?? signal ?? 'unknown');
    });
  });
  let stderr = '';
  if (closeStderr) child.stderr?.destroy();
  else child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const stderrClosed = new Promise<string>((resolve) => child.stderr?.once('close', () => resolve(stderr)));
  let stdout = '';
  if (closeStdout === 'at-start') {
    child.stdout?.destroy();
  } else {
    const said = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "listening" line:\n${stdout}${stderr}`)), 20_000);
      child.stdout?.on('data', (chunk: Buffer) => {
        stdout += chunk.toString('utf8');
        if (stdout.includes('Latchkey is listening on')) {
          clearTimeout(timer);
          // The reader goes away: from now on every write to the pipe fails with EPIPE.
          child.stdout?.destroy();
          resolve();
        }
      });
      void exited.then((how) => reject(new Error(`the server ended (${how}) before listening:\n${stderr}`)));
    });
    await said;
  }

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const status = await Promise.race([
      fetchWithin(`${baseUrl}/healthz`).then(
        (response) => response.status,
        () => null,
      ),
      exited.then((how) => `exited (${how})`),
    ]);
    if (status === 200) break;
    if (typeof status === 'string') throw new Error(`the server ${status} instead of serving:\n${stderr}`);
    if (Date.now() > deadline) {
      throw new Error(`the server did not answer /healthz within ${READY_TIMEOUT_MS} ms:\n${stderr}`);
    }
    await sleep(100);
  }
  return { process: child, baseUrl, exited, stderr: stderrClosed };
}

/** SIGTERM, then the exit code, or 'still running' when it did not end in time (it is killed then). */
async function stop(child: Child): Promise<number | string> {
  child.process.kill('SIGTERM');
  const timeout = sleep(STOP_TIMEOUT_MS).then(() => 'still running');
  return Promise.race([child.exited, timeout]);
}

describe('a server whose standard output breaks (EPIPE)', () => {
  it.each([
    { closeStdout: 'at-start', closeStderr: false },
    { closeStdout: 'after-listening', closeStderr: false },
    { closeStdout: 'at-start', closeStderr: true },
  ] as const)(
    'stdout closed $closeStdout, stderr closed: $closeStderr: keeps serving, stops on SIGTERM',
    async ({ closeStdout, closeStderr }) => {
      const child = await startChild(closeStdout, closeStderr);

      // A failed login is logged at info (and so is every request, by the access log): the broken pipe.
      const login = await fetchWithin(`${child.baseUrl}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'nobody@example.com', password: 'Tr0ub4dor&3-original' }),
      });
      expect(login.status).toBe(401);
      for (let i = 0; i < 3; i++) {
        expect((await fetchWithin(`${child.baseUrl}/healthz`)).status).toBe(200);
      }

      expect(await stop(child)).toBe(0);
      if (!closeStderr) {
        // Said once, on stderr, and nothing else: no uncaught error, no stack.
        const lines = (await child.stderr).split('\n').filter(Boolean);
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(/^latchkey: standard output is closed \(EPIPE: its reader went away\)/);
      }
    },
  );
});

describe("the server's log destination", () => {
  it('lets the process exit at once after lines were logged to a closed stdout', async () => {
    // Lines logged just before process.exit (as SIGTERM's shutdown does), the first one already meeting
    // the broken pipe: an asynchronous destination would still hold the others, and its exit hook
    // would retry them on the dead pipe forever.
    const script = [
      "import Fastify from 'fastify';",
      "import { loggingOptions } from './dist/server/logging.js';",
      "const app = Fastify(loggingOptions({ logLevel: 'info', accessLogLevel: 'off' }, undefined));",
      "for (let i = 0; i < 3; i++) app.log.info({ i }, 'a line for a closed stdout');",
      'process.exit(0);',
    ].join('\n');
    const child = spawn(process.execPath, ['--input-type=module', '--eval', script], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    child.stdout?.destroy();
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const exited = new Promise<number | string>((resolve) => {
      child.once('close', (code, signal) => {
        children.delete(child);
        resolve(code ?? signal ?? 'unknown');
      });
    });
    const timeout = sleep(STOP_TIMEOUT_MS).then(() => 'still running');
    expect(await Promise.race([exited, timeout])).toBe(0);
    expect(stderr).toMatch(/^latchkey: standard output is closed \(EPIPE: its reader went away\)/);
  });
});
