/**
 * `latchkey serve --workers N`: the compiled command (bin/latchkey.js, so `npm run build` first) with
 * two workers on a real port and a real SQLite file. Which worker answered is read from the access
 * log, whose lines carry the pid of the process that wrote them.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanEnv, sleep } from '../e2e/support.js';
import { freePort } from '../support/ports.js';
import { REDIS_URL, redisAvailability, uniquePrefix } from '../support/redis.js';
import { runCLI } from './run-cli.js';

// Without a reachable Redis its case says why it skips (and fails where CI requires Redis).
const redis = await redisAvailability();
const BIN = fileURLToPath(new URL('../../bin/latchkey.js', import.meta.url));

describe('latchkey serve --workers: usage', () => {
  for (const raw of ['0', '65', 'two', '1.5', '-1', '']) {
    it(`refuses --workers ${JSON.stringify(raw)} with exit code 2 and says what it takes`, async () => {
      const result = await runCLI(['serve', '--workers', raw], {});
      expect(result).toEqual({
        code: 2,
        stdout: '',
        stderr: `latchkey: --workers must be a whole number from 1 to 64, not "${raw}"\n`,
      });
    });
  }

  it('refuses --workers without a number', async () => {
    const result = await runCLI(['serve', '--workers'], {});
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("option '--workers <n>' argument missing");
  });
});

interface Cluster {
  child: ChildProcess;
  baseUrl: string;
  stdout(): string;
  stderr(): string;
}

const running = new Set<ChildProcess>();
const directories: string[] = [];

afterEach(async () => {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
  await Promise.all(directories.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function startCluster(
  port: number,
  workers = 2,
  env: Readonly<Record<string, string>> = {},
): Promise<Cluster> {
  const dataDir = await mkdtemp(join(tmpdir(), 'latchkey-workers-'));
  directories.push(dataDir);
  const child = spawn(process.execPath, [BIN, 'serve', '--workers', String(workers)], {
    env: {
      ...cleanEnv(),
      HOST: '127.0.0.1',
      PORT: String(port),
      LATCHKEY_DATA_DIR: dataDir,
      LOG_LEVEL: 'info',
      LATCHKEY_ACCESS_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  return { child, baseUrl: `http://127.0.0.1:${port}`, stdout: () => stdout, stderr: () => stderr };
}

/** The processes whose parent is `pid` (pgrep exits 1 when there are none). */
function childrenOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line !== '')
      .map(Number);
  } catch {
    return [];
  }
}

async function until<T>(what: string, check: () => T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** One request on a connection of its own: the primary hands each new connection to the next worker. */
function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = request(url, { agent: false, headers: { connection: 'close' } }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => {
        body += chunk.toString('utf8');
      });
      response.once('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.once('error', reject);
    });
    outgoing.once('error', reject);
    outgoing.end();
  });
}

/** The pids of the processes that logged an answer to `path`, in order. */
function answeredBy(stdout: string, path: string): number[] {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { msg?: string; path?: string; pid?: number })
    .filter((line) => line.msg === 'request' && line.path === path)
    .map((line) => line.pid as number);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('latchkey serve --workers 2', () => {
  it('shares the port between two workers, sums their metrics, replaces a killed one and stops them all', async () => {
    const cluster = await startCluster(await freePort());
    await until(
      'the listening line',
      () =>
        cluster.stdout().includes('Latchkey is listening on http://127.0.0.1:') &&
        cluster.stdout().includes(', 2 workers)'),
    );

    // Connections go to the workers in turn: ten requests reach both, and never the primary.
    for (let i = 0; i < 10; i++) expect((await get(`${cluster.baseUrl}/healthz`)).status).toBe(200);
    const pids = await until('ten logged answers', () => {
      const seen = answeredBy(cluster.stdout(), '/healthz');
      return seen.length === 10 && seen;
    });
    const workers = [...new Set(pids)];
    expect(workers).toHaveLength(2);
    expect(workers).not.toContain(cluster.child.pid);

    // Whichever worker answers /metrics, it counts the requests of both.
    for (let i = 0; i < 2; i++) {
      const metrics = await get(`${cluster.baseUrl}/metrics`);
      expect(metrics.status).toBe(200);
      expect(metrics.body).toContain(
        'latchkey_http_request_duration_seconds_count{method="GET",route="/healthz",status="200"} 10\n',
      );
    }
    // The answers came from both workers (the log line may follow its answer by a moment).
    await until(
      'both workers answering /metrics',
      () => answeredBy(cluster.stdout(), '/metrics').length === 2,
    );
    expect(new Set(answeredBy(cluster.stdout(), '/metrics')).size).toBe(2);

    // A worker killed is replaced, and the new one serves.
    const [killed, survivor] = workers as [number, number];
    process.kill(killed, 'SIGKILL');
    await until('the restart message', () =>
      cluster.stderr().includes(`latchkey: worker ${killed} exited by SIGKILL; starting another in 100 ms\n`),
    );
    // New connections go to the workers in turn, the new one among them.
    let replacement: number | undefined;
    for (let i = 0; i < 100 && replacement === undefined; i++) {
      expect((await get(`${cluster.baseUrl}/healthz`)).status).toBe(200);
      await sleep(20);
      replacement = answeredBy(cluster.stdout(), '/healthz').find((pid) => !workers.includes(pid));
    }
    if (replacement === undefined) throw new Error(`no new worker answered:\n${cluster.stderr()}`);
    expect(isAlive(replacement)).toBe(true);
    expect(isAlive(survivor)).toBe(true);

    // SIGTERM to the primary: every worker finishes and exits, then the primary, with code 0.
    const exited = once(cluster.child, 'exit');
    cluster.child.kill('SIGTERM');
    const [code, signal] = await exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(isAlive(survivor)).toBe(false);
    expect(isAlive(replacement)).toBe(false);
    // The lines `npm start` prints too, so a supervisor's log shows the stop asked for and done.
    expect(cluster.stdout()).toMatch(
      /^Latchkey is stopping \(SIGTERM\): finishing the requests in flight\n(?:.*\n)*Latchkey stopped$/m,
    );
  }, 60_000);

  // Summed, two workers that reach Redis would report 2: the gauge is 1 only while every worker does.
  it.runIf(redis.available)(
    'reports Redis available as 1 when both workers reach it, not as their sum',
    async () => {
      const cluster = await startCluster(await freePort(), 2, {
        REDIS_URL,
        LATCHKEY_REDIS_PREFIX: uniquePrefix(),
      });
      await until('the listening line', () => cluster.stdout().includes(', 2 workers)'));
      const metrics = await get(`${cluster.baseUrl}/metrics`);
      expect(metrics.status).toBe(200);
      expect(metrics.body).toMatch(/^latchkey_redis_available 1$/m);
    },
    30_000,
  );

  it('stops them all with a clear error when workers keep dying', async () => {
    const cluster = await startCluster(await freePort());
    await until('listening', () => cluster.stdout().includes('Latchkey is listening'));
    const primary = cluster.child.pid as number;
    const exited = once(cluster.child, 'exit');
    let done = false;
    void exited.then(() => {
      done = true;
    });
    // Every worker killed as soon as it is there, replacements too, until the primary gives up.
    while (!done) {
      for (const pid of childrenOf(primary)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone (and reaped) since pgrep saw it.
        }
      }
      await sleep(30);
    }
    const [code] = await exited;
    expect(code).toBe(1);
    expect(cluster.stderr()).toMatch(/latchkey: worker \d+ exited by SIGKILL; starting another in 100 ms\n/);
    expect(cluster.stderr()).toMatch(
      /\nlatchkey: workers keep exiting \(6 exits within 60 s, the last by SIGKILL\); stopped them all\n$/,
    );
  }, 60_000);

  it('stops at once, naming the setting, when a worker refuses its configuration (the port is taken)', async () => {
    const port = await freePort();
    const squatter: Server = createServer();
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
    try {
      const cluster = await startCluster(port);
      const [code] = await once(cluster.child, 'exit');
      // As a single server refusing the same port: 2 is a configuration error, 1 a crash.
      expect(code).toBe(2);
      // Each worker names the setting in one line (exit code 2, a configuration error), no stack trace.
      expect(cluster.stderr()).toContain(
        `latchkey: invalid configuration: PORT: 127.0.0.1:${port} is in use by another process (EADDRINUSE)`,
      );
      expect(cluster.stderr()).not.toContain('    at ');
      expect(cluster.stderr()).not.toContain('starting another');
      expect(cluster.stderr()).toMatch(
        /\nlatchkey: worker \d+ exited with code 2, refusing its configuration; stopped them all\n$/,
      );
      expect(cluster.stdout()).not.toContain('Latchkey is listening');
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  }, 60_000);
});
