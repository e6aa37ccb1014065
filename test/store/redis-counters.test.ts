import { afterAll, describe } from 'vitest';
import { RedisConnection } from '../../src/store/redis/connection.js';
import { RedisCounterStore } from '../../src/store/redis/counter-store.js';
import { deleteKeys, REDIS_URL, redisAvailability, uniquePrefix } from '../support/redis.js';
import { describeCounterStoreConformance } from './conformance.js';

const redis = await redisAvailability();
const prefixes: string[] = [];
afterAll(async () => {
  if (redis.available) await Promise.all(prefixes.map((prefix) => deleteKeys(REDIS_URL, prefix)));
});

describe.skipIf(!redis.available)('Redis counters', () => {
  describeCounterStoreConformance('Redis', async () => {
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const connection = new RedisConnection({ url: REDIS_URL, prefix, timeoutMs: 2000 });
    await connection.waitUntilAvailable(5000);
    return { counters: new RedisCounterStore(connection), close: () => connection.close() };
  });
});
