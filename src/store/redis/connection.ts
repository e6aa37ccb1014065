/**
 * One instance's connection to Redis (REDIS_URL), made to fail fast: a command sent while Redis is
 * away is refused at once instead of queued (a queue would hold every login until Redis returned),
 * and a command Redis does not answer within the timeout fails. ioredis reconnects with back-off
 * meanwhile. Whoever uses the connection falls back to the store while it is not available.
 */
import { Redis, type RedisOptions } from 'ioredis';

export interface RedisConnectionOptions {
  url: string;
  /** Put before every key and channel name, so several deployments can share one Redis. */
  prefix: string;
  /** How long a command may take before it fails. */
  timeoutMs: number;
  now?: () => number;
  /** Told once when Redis goes away (and why) and once when it is back. */
  onAvailabilityChange?: (available: boolean, reason: string) => void;
  /** Told of every command that failed (the caller then used the store). */
  onCommandFailure?: (error: unknown) => void;
  /**
   * Whether to reconnect after a failure, with back-off. Default true; false for a command that
   * publishes one change and exits, which should neither wait for Redis nor try again.
   */
  reconnect?: boolean;
}

/** Reconnect after 50 ms, doubling up to 2 s: a restarted Redis is used again within seconds. */
const retryStrategy = (attempt: number) => Math.min(50 * 2 ** Math.min(attempt, 6), 2000);

export class RedisConnection {
  readonly client: Redis;
  readonly prefix: string;
  readonly #options: RedisConnectionOptions;
  readonly #now: () => number;
  #available = false;
  /** Whether anyone was told yet: the first failure to connect counts as going away. */
  #told = false;
  #lastError = 'not connected yet';
  #closed = false;
  /** When Redis last became available after having been away; null when it never was away. */
  #returnedAt: number | null = null;

  constructor(options: RedisConnectionOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.prefix = options.prefix;
    this.client = new Redis(options.url, this.clientOptions());
    this.client.on('ready', () => this.#change(true, 'connected'));
    // Without a listener, ioredis reports connection errors on stderr; they are a reason here.
    this.client.on('error', (error: Error) => {
      this.#lastError = error.message;
    });
    this.client.on('close', () => this.#change(false, this.#lastError));
  }

  /** The options of this connection's clients; a subscriber takes them with its own changes. */
  clientOptions(): RedisOptions {
    return {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: this.#options.timeoutMs,
      connectTimeout: Math.max(this.#options.timeoutMs, 1000),
      retryStrategy: this.#options.reconnect === false ? () => null : retryStrategy,
      lazyConnect: false,
    };
  }

  get available(): boolean {
    return this.#available;
  }

  /** When Redis last came back after being away (it missed what was counted meanwhile); else null. */
  get returnedAt(): number | null {
    return this.#returnedAt;
  }

  /** Waits until connected, at most `timeoutMs`; whether it is. For start-up, which need not wait longer. */
  async waitUntilAvailable(timeoutMs: number): Promise<boolean> {
    if (this.#available) return true;
    const deadline = this.#now() + timeoutMs;
    // 'end': a connection that does not reconnect has failed for good.
    while (!this.#available && !this.#closed && this.client.status !== 'end' && this.#now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    if (!this.#available && !this.#told) this.#change(false, this.#lastError);
    return this.#available;
  }

  /** Runs a command, counting its failure; rethrows, so that the caller falls back. */
  async run<T>(command: (client: Redis) => Promise<T>): Promise<T> {
    try {
      return await command(this.client);
    } catch (error) {
      this.#options.onCommandFailure?.(error);
      throw error;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    // quit() waits for replies to what was sent; a Redis that is away gets disconnect() at once.
    if (this.client.status === 'ready') await this.client.quit().catch(() => this.client.disconnect());
    else this.client.disconnect();
  }

  #change(available: boolean, reason: string): void {
    if (this.#closed) return;
    if (available === this.#available && this.#told) return;
    const wasAway = this.#told && !this.#available;
    this.#available = available;
    if (available && wasAway) this.#returnedAt = this.#now();
    // Connecting at start is not news; anything after is.
    if (available && !this.#told) {
      this.#told = true;
      return;
    }
    this.#told = true;
    this.#options.onAvailabilityChange?.(available, reason);
  }
}
