import { afterAll, describe, expect, it } from 'vitest';
import type { AttemptsInFlight } from '../../src/store/attempts-in-flight.js';
import { RedisAttemptsInFlight } from '../../src/store/redis/attempts-in-flight.js';
import { RedisConnection, type RedisConnectionOptions } from '../../src/store/redis/connection.js';
import { RedisCounterStore } from '../../src/store/redis/counter-store.js';
import { describeInFlightThrottle } from '../auth/in-flight-cases.js';
import { deleteKeys, REDIS_URL, redisAvailability, uniquePrefix } from '../support/redis.js';
import { describeCounterStore } from './conformance.js';

const redis = await redisAvailability();
const prefixes: string[] = [];
afterAll(async () => {
  if (redis.available) await Promise.all(prefixes.map((prefix) => deleteKeys(REDIS_URL, prefix)));
});

async function connect(options: Partial<RedisConnectionOptions> = {}): Promise<RedisConnection> {
  const prefix = uniquePrefix();
  prefixes.push(prefix);
  const connection = new RedisConnection({ url: REDIS_URL, prefix, timeoutMs: 2000, ...options });
  expect(await connection.waitUntilAvailable(5000)).toBe(true);
  return connection;
}

describe.skipIf(!redis.available)('Redis', () => {
  describeCounterStore('Redis', async () => {
    const connection = await connect();
    const counters = new RedisCounterStore(connection);
    return {
      recordFailures: (failures, now) => counters.recordFailures(failures, now),
      readCounters: (keys, now) => counters.readCounters(keys, now),
      clearCounter: (key) => counters.clearCounter(key),
      deleteExpiredCounters: (before) => counters.deleteExpiredCounters(before),
      close: () => connection.close(),
    };
  });

  describeInFlightThrottle('Redis', async () => {
    const connection = await connect();
    return {
      counters: new RedisCounterStore(connection),
      inFlight: new RedisAttemptsInFlight(connection),
      close: () => connection.close(),
    };
  });

  it('shares logins in flight between connections (instances)', async () => {
    const a = await connect();
    const prefix = a.prefix;
    const shared = new RedisConnection({ url: REDIS_URL, prefix, timeoutMs: 2000 });
    await shared.waitUntilAvailable(5000);
    try {
      const one: AttemptsInFlight = new RedisAttemptsInFlight(a);
      const other: AttemptsInFlight = new RedisAttemptsInFlight(shared);
      const limit = [{ key: 'k', limit: 3 }];
      const admitted = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? one : other).admit(limit, 0)),
      );
      const released = admitted.filter((release) => release !== null);
      expect(released).toHaveLength(3);
      await Promise.all(released.map((release) => release?.()));
      expect(await other.admit(limit, 0)).not.toBeNull();
    } finally {
      await Promise.all([a.close(), shared.close()]);
    }
  });

  it('fails a command Redis does not answer in time, and counts it', async () => {
    const failures: unknown[] = [];
    const connection = await connect({ timeoutMs: 100, onCommandFailure: (error) => failures.push(error) });
    try {
      const started = performance.now();
      await expect(connection.run((client) => client.blpop(`${connection.prefix}empty`, 2))).rejects.toThrow(
        /timed out/i,
      );
      expect(performance.now() - started).toBeLessThan(1000);
      expect(failures).toHaveLength(1);
    } finally {
      await connection.close();
    }
  });
});
