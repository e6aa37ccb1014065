/**
 * How a command tells the running servers of a change it made, when REDIS_URL is set: the same
 * messages a server publishes. Redis is connected only when there is a change to tell, so commands
 * that change nothing never need it, and without a second try: a command must not wait for Redis.
 * When it cannot be reached, the change stands (the store is the truth) and the servers learn of it at
 * their next poll of the store, within a second; the command says so in one line.
 */
import type { ServerConfig } from '../server/config.js';
import { RedisConnection } from '../store/redis/connection.js';
import { type FanOutMessage, type FanOutPublisher, RedisPublisher } from '../store/redis/fan-out.js';

/** How long a command waits for Redis to answer before leaving its change to the servers' poll. */
const CONNECT_WAIT_MS = 1000;

type RedisSettings = Pick<ServerConfig, 'redisUrl' | 'redisPrefix' | 'redisTimeoutMs'>;

interface Connection {
  redis: RedisConnection;
  publisher: RedisPublisher;
}

export class CommandFanOut implements FanOutPublisher {
  readonly #settings: RedisSettings;
  readonly #warn: (line: string) => void;
  #connection: Promise<Connection> | null = null;

  constructor(settings: RedisSettings, warn: (line: string) => void) {
    this.#settings = settings;
    this.#warn = warn;
  }

  async publish(message: FanOutMessage): Promise<void> {
    const url = this.#settings.redisUrl;
    if (url === null) return;
    this.#connection ??= this.#connect(url);
    const { publisher } = await this.#connection;
    await publisher.publish(message);
  }

  /** Closes the connection, if a change opened one, so that the process can exit. */
  async close(): Promise<void> {
    if (this.#connection === null) return;
    const { redis } = await this.#connection;
    await redis.close();
  }

  async #connect(url: string): Promise<Connection> {
    const redis = new RedisConnection({
      url,
      prefix: this.#settings.redisPrefix,
      timeoutMs: this.#settings.redisTimeoutMs,
      reconnect: false,
      onAvailabilityChange: (available, reason) => {
        if (!available) {
          this.#warn(
            `could not tell the running servers through Redis (${reason}); ` +
              'they learn of the change from the database within a second',
          );
        }
      },
    });
    await redis.waitUntilAvailable(CONNECT_WAIT_MS);
    return { redis, publisher: new RedisPublisher(redis) };
  }
}
