/**
 * Revocations and key changes told to every instance at once, over a Redis channel. Each instance
 * still polls the store (every 500 ms), which stays the source of truth: a message lost while Redis
 * is away only means that instance learns it at its next poll.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RedisConnection } from './connection.js';

export type FanOutMessage =
  | { type: 'sessions-revoked'; sessions: { id: string; revokedAt: number }[] }
  /** Signing keys were added, revoked or deleted: reload them from the store. */
  | { type: 'keys-changed' };

function parseMessage(text: string): { from: string; message: FanOutMessage } | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { from, type, sessions } = value as Record<string, unknown>;
  if (typeof from !== 'string') return null;
  if (type === 'keys-changed') return { from, message: { type } };
  if (type !== 'sessions-revoked' || !Array.isArray(sessions)) return null;
  const valid = sessions.filter(
    (entry): entry is { id: string; revokedAt: number } =>
      typeof entry === 'object' &&
      entry !== null &&
      typeof (entry as { id?: unknown }).id === 'string' &&
      Number.isFinite((entry as { revokedAt?: unknown }).revokedAt),
  );
  return { from, message: { type, sessions: valid.map(({ id, revokedAt }) => ({ id, revokedAt })) } };
}

export class RedisFanOut {
  readonly #redis: RedisConnection;
  readonly #subscriber: Redis;
  readonly #channel: string;
  /** Tells this instance's own messages apart: it has applied them already. */
  readonly #self = randomUUID();
  /** The first subscription: false if the subscriber was closed before Redis answered. */
  readonly #subscribed: Promise<boolean>;

  constructor(redis: RedisConnection, onMessage: (message: FanOutMessage) => void) {
    this.#redis = redis;
    this.#channel = `${redis.prefix}events`;
    // A subscriber only ever sends SUBSCRIBE: it may wait for Redis (and resubscribes after each
    // reconnect) without holding up anything else.
    this.#subscriber = redis.client.duplicate({
      ...redis.clientOptions(),
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      commandTimeout: undefined,
    });
    this.#subscriber.on('error', () => {});
    this.#subscriber.on('message', (channel: string, text: string) => {
      if (channel !== this.#channel) return;
      const parsed = parseMessage(text);
      if (parsed !== null && parsed.from !== this.#self) onMessage(parsed.message);
    });
    this.#subscribed = this.#subscriber.subscribe(this.#channel).then(
      () => true,
      () => false,
    );
  }

  /** Whether subscribed within `timeoutMs` (ioredis subscribes again after every reconnect). */
  waitUntilSubscribed(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    return Promise.race([this.#subscribed, late]).finally(() => clearTimeout(timer));
  }

  /** Tells the other instances; never rejects (a failure is counted, and polling covers it). */
  async publish(message: FanOutMessage): Promise<void> {
    if (!this.#redis.available) return;
    const text = JSON.stringify({ from: this.#self, ...message });
    await this.#redis.run((client) => client.publish(this.#channel, text)).catch(() => {});
  }

  async close(): Promise<void> {
    this.#subscriber.disconnect();
  }
}
