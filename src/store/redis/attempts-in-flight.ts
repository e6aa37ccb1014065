/**
 * Logins in flight counted in Redis: a sorted set per key, one member per attempt, scored with the
 * time it is forgotten. One Lua script drops expired members, checks every limit and adds the attempt
 * to every set, so instances deciding at once never both take the last place. An instance that dies
 * mid-attempt never removes its members; they expire after 30 s by Redis' own clock.
 */
import { randomUUID } from 'node:crypto';
import {
  type AttemptsInFlight,
  type InFlightLimit,
  type ReleaseAttempt,
  releaseOnce,
} from '../attempts-in-flight.js';
import type { RedisConnection } from './connection.js';

const ATTEMPT_TTL_MS = 30_000;

/** KEYS the sets; ARGV[1] the attempt, ARGV[2] its lifetime (ms), ARGV[3…] each key's limit. 1 if admitted. */
const ADMIT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) + 1 > tonumber(ARGV[i + 2]) then return 0 end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + ttl, ARGV[1])
  redis.call('PEXPIRE', key, ttl)
end
return 1
`;

/** KEYS the sets; ARGV[1] the attempt. */
const RELEASE = `
for _, key in ipairs(KEYS) do redis.call('ZREM', key, ARGV[1]) end
return 0
`;

interface InFlightClient {
  latchkeyAdmit(...args: (string | number)[]): Promise<number>;
  latchkeyRelease(...args: (string | number)[]): Promise<number>;
}

export interface RedisAttemptsInFlightOptions {
  /** Told when an attempt's end could not be counted (it then expires within 30 s). */
  onReleaseError?: (error: unknown) => void;
}

export class RedisAttemptsInFlight implements AttemptsInFlight {
  readonly #redis: RedisConnection;
  readonly #onReleaseError: (error: unknown) => void;

  constructor(redis: RedisConnection, options: RedisAttemptsInFlightOptions = {}) {
    this.#redis = redis;
    this.#onReleaseError = options.onReleaseError ?? (() => {});
    redis.client.defineCommand('latchkeyAdmit', { lua: ADMIT });
    redis.client.defineCommand('latchkeyRelease', { lua: RELEASE });
  }

  async admit(limits: readonly InFlightLimit[]): Promise<ReleaseAttempt | null> {
    const keys = limits.map(({ key }) => `${this.#redis.prefix}inflight:${key}`);
    const attempt = randomUUID();
    const client = () => this.#redis.client as unknown as InFlightClient;
    const admitted = await this.#redis.run(() =>
      client().latchkeyAdmit(
        keys.length,
        ...keys,
        attempt,
        ATTEMPT_TTL_MS,
        ...limits.map(({ limit }) => limit),
      ),
    );
    if (admitted !== 1) return null;
    return releaseOnce(() =>
      this.#redis
        .run(() => client().latchkeyRelease(keys.length, ...keys, attempt))
        .then(() => {}, this.#onReleaseError),
    );
  }
}
