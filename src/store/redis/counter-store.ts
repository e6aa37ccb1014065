/**
 * The throttle's fixed-window counters in Redis, with the SQL stores' semantics (the same
 * `CounterState`, the conformance suite's counters section): a hash per counter, changed by one Lua
 * script so concurrent failures never lose a count, and expiring with its window.
 */
import { assertDistinctKeys } from '../counter-store.js';
import type { CounterFailure, CounterState, CounterStore } from '../types.js';
import type { RedisConnection } from './connection.js';

/** KEYS[1] the counter; ARGV now, window end if a new window starts. Returns count, start, last, end. */
const RECORD_FAILURE = `
local now = tonumber(ARGV[1])
local v = redis.call('HMGET', KEYS[1], 'count', 'start', 'last', 'end')
if v[1] == false or tonumber(v[4]) <= now then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'count', 1, 'start', ARGV[1], 'last', ARGV[1], 'end', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) - now)
  return {1, ARGV[1], ARGV[1], ARGV[2]}
end
local count = redis.call('HINCRBY', KEYS[1], 'count', 1)
local last = v[3]
if tonumber(last) < now then
  last = ARGV[1]
  redis.call('HSET', KEYS[1], 'last', last)
end
return {count, v[2], last, v[4]}
`;

/** KEYS[1] a counter; deletes it when its window ended before ARGV[1]. Returns how many it deleted. */
const DELETE_ENDED = `
local ends = redis.call('HGET', KEYS[1], 'end')
if ends ~= false and tonumber(ends) < tonumber(ARGV[1]) then
  return redis.call('DEL', KEYS[1])
end
return 0
`;

/** Times travel as decimal strings: a Lua number would lose nothing, but Redis truncates replies. */
function toCounterState(reply: unknown): CounterState {
  const [count, start, last, end] = reply as [number | string, string, string, string];
  return {
    count: Number(count),
    windowStartedAt: Number(start),
    lastAt: Number(last),
    expiresAt: Number(end),
  };
}

/** A prefix as a SCAN pattern matches it literally. */
const globEscape = (text: string) => text.replace(/[*?[\]\\]/g, '\\$&');

export class RedisCounterStore implements CounterStore {
  readonly #redis: RedisConnection;

  constructor(redis: RedisConnection) {
    this.#redis = redis;
    redis.client.defineCommand('latchkeyRecordFailure', { numberOfKeys: 1, lua: RECORD_FAILURE });
    redis.client.defineCommand('latchkeyDeleteEnded', { numberOfKeys: 1, lua: DELETE_ENDED });
  }

  #key(key: string): string {
    return `${this.#redis.prefix}counter:${key}`;
  }

  /** One round trip: the script once per counter, pipelined. */
  async recordFailures(failures: readonly CounterFailure[], now: number): Promise<CounterState[]> {
    assertDistinctKeys(failures.map(({ key }) => key));
    if (failures.length === 0) return [];
    // The answers are read inside run(): exec() resolves with a failed command's error as its answer,
    // and run() must see that failure to count it.
    const answers = await this.#redis.run(async (client) => {
      const pipeline = client.pipeline() as unknown as CounterPipeline;
      for (const { key, windowMs } of failures) {
        pipeline.latchkeyRecordFailure(this.#key(key), String(now), String(now + windowMs));
      }
      return answersOf(await pipeline.exec(), failures.length);
    });
    return answers.map(toCounterState);
  }

  async readCounters(keys: readonly string[], now: number): Promise<(CounterState | null)[]> {
    if (keys.length === 0) return [];
    const answers = await this.#redis.run(async (client) => {
      const pipeline = client.pipeline();
      for (const key of keys) pipeline.hmget(this.#key(key), 'count', 'start', 'last', 'end');
      return answersOf(await pipeline.exec(), keys.length);
    });
    return answers.map((answer) => {
      const reply = answer as (string | null)[];
      return reply[0] === null || Number(reply[3]) <= now ? null : toCounterState(reply);
    });
  }

  async clearCounter(key: string): Promise<void> {
    await this.#redis.run((client) => client.del(this.#key(key)));
  }

  /**
   * Redis forgets each counter when its window ends by its own clock; this deletes those whose window
   * ended before `before` by the caller's, as the SQL stores do. A scan over the prefix: for tools
   * and tests, not for a timer (instances clean only the store's counters).
   */
  async deleteExpiredCounters(before: number): Promise<number> {
    let deleted = 0;
    let cursor = '0';
    do {
      const [next, keys] = await this.#redis.run((client) =>
        client.scan(cursor, 'MATCH', `${globEscape(this.#key(''))}*`, 'COUNT', 500),
      );
      cursor = next;
      for (const key of keys) {
        deleted += Number(
          await this.#redis.run((client) =>
            (client as unknown as CounterClient).latchkeyDeleteEnded(key, String(before)),
          ),
        );
      }
    } while (cursor !== '0');
    return deleted;
  }
}

/** A pipeline's answers, one per command; the first command's error, if one failed, is the batch's. */
function answersOf(replies: [Error | null, unknown][] | null, expected: number): unknown[] {
  if (replies === null || replies.length !== expected) {
    throw new Error(`a Redis pipeline of ${expected} commands answered ${replies?.length ?? 'nothing'}`);
  }
  return replies.map(([error, reply]) => {
    if (error !== null) throw error;
    return reply;
  });
}

interface CounterPipeline {
  latchkeyRecordFailure(key: string, now: string, end: string): CounterPipeline;
  exec(): Promise<[Error | null, unknown][] | null>;
}

interface CounterClient {
  latchkeyDeleteEnded(key: string, before: string): Promise<number>;
}
