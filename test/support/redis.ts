/**
 * Redis for tests: the machine's server at 127.0.0.1:6379 when it answers there. When it does not,
 * Redis tests are skipped and say so plainly, unless LATCHKEY_TEST_REDIS=server (set by .ci/run
 * where redis-server is installed) makes that a failure. Every test uses a prefix of its own, so runs
 * never see each other's keys. Tests that stop Redis start a private `redis-server` on a free port.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';

export const REDIS_URL = 'redis://127.0.0.1:6379';

/** Whether a Redis answers PING at `url`; the reason when none does. */
async function ping(url: string, timeoutMs = 2000): Promise<{ ok: true } | { ok: false; why: string }> {
  const client = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: timeoutMs,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
    return { ok: true };
  } catch (error) {
    return { ok: false, why: error instanceof Error ? error.message : String(error) };
  } finally {
    client.disconnect();
  }
}

export interface RedisAvailability {
  available: boolean;
  /** Why the Redis tests are skipped, when they are. */
  why: string;
}

let decided: Promise<RedisAvailability> | undefined;

/** Decides once per process whether Redis tests run; prints why when they are skipped. */
export function redisAvailability(): Promise<RedisAvailability> {
  decided ??= (async () => {
    const answer = await ping(REDIS_URL);
    if (answer.ok) return { available: true, why: '' };
    const why = `no Redis answers at ${REDIS_URL} (${answer.why})`;
    if (process.env.LATCHKEY_TEST_REDIS === 'server') {
      throw new Error(`LATCHKEY_TEST_REDIS=server, but ${why}`);
    }
    process.stdout.write(`Redis tests skipped: ${why}. Start redis-server to run them.\n`);
    return { available: false, why };
  })();
  return decided;
}

/** A key prefix no other test uses. */
export function uniquePrefix(): string {
  return `latchkey-test:${randomBytes(6).toString('hex')}:`;
}

/** Deletes every key under `prefix`. */
export async function deleteKeys(url: string, prefix: string): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  try {
    await client.connect();
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await client.del(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}

/** A redis-server of a test's own, to stop and start again. */
export interface PrivateRedis {
  url: string;
  port: number;
  /** Kills it (SIGKILL) and waits until it is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty: it saved nothing). */
  start(): Promise<void>;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  let child: ChildProcess | null = null;
  const url = `redis://127.0.0.1:${port}`;
  const start = async () => {
    const started = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    child = started;
    const exited = new Promise<never>((_, reject) =>
      started.once('exit', (code) => reject(new Error(`redis-server exited (${code}) on port ${port}`))),
    );
    exited.catch(() => {});
    const deadline = Date.now() + 10_000;
    while (!(await ping(url, 500)).ok) {
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port}`);
      await Promise.race([new Promise((resolve) => setTimeout(resolve, 50)), exited]);
    }
  };
  const kill = async () => {
    const running = child;
    child = null;
    if (running === null || running.exitCode !== null) return;
    const gone = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGKILL');
    await gone;
    while (await portOpen(port)) await new Promise((resolve) => setTimeout(resolve, 20));
  };
  await start();
  return { url, port, kill, start };
}
