/**
 * Revocations and key changes told to every instance at once, over a Redis channel. A message is a
 * cue to read the store at once; each instance also polls it (every 500 ms), and the store stays the
 * source of truth: a message lost while Redis is away only means that instance learns it at its next
 * poll. The ids a message names are for people watching the channel; no instance trusts them.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RedisConnection } from './connection.js';

export type FanOutMessage =
  | { type: 'sessions-revoked'; sessions: { id: string; revokedAt: number }[] }
  /** Signing keys were added, revoked or deleted: reload them from the store. */
  | { type: 'keys-changed' };

/** What a subscriber reads of a message: who sent it, and the kind of change. */
type FanOutCue = FanOutMessage['type'];

/**
 * The sender and kind of a message of this channel's shape; null for anything else. Nothing more is
 * read: a message only tells an instance to read the store now, which holds what changed.
 */
function parseMessage(text: string): { from: string; type: FanOutCue } | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { from, type, sessions } = value as Record<string, unknown>;
  if (typeof from !== 'string') return null;
  if (type === 'keys-changed') return { from, type };
  if (type !== 'sessions-revoked' || !Array.isArray(sessions)) return null;
  return { from, type };
}

/** Where a change is told to every instance; never rejects (a failure only means the next poll tells it). */
export interface FanOutPublisher {
  publish(message: FanOutMessage): Promise<void>;
}

const channelOf = (redis: RedisConnection) => `${redis.prefix}events`;

/** Publishes without listening: for a process that makes a change and exits (the CLI). */
export class RedisPublisher implements FanOutPublisher {
  readonly #redis: RedisConnection;
  readonly #channel: string;
  /** Sent with every message, so that a subscriber of the same process skips what it applied already. */
  readonly id = randomUUID();

  constructor(redis: RedisConnection) {
    this.#redis = redis;
    this.#channel = channelOf(redis);
  }

  /** A failure is counted by the connection; polling covers it. */
  async publish(message: FanOutMessage): Promise<void> {
    if (!this.#redis.available) return;
    const text = JSON.stringify({ from: this.id, ...message });
    await this.#redis.run((client) => client.publish(this.#channel, text)).catch(() => {});
  }
}

/** An instance's side of the channel: it publishes its own changes and applies everyone else's. */
export class RedisFanOut implements FanOutPublisher {
  readonly #publisher: RedisPublisher;
  readonly #subscriber: Redis;
  /** The first subscription: false if the subscriber was closed before Redis answered. */
  readonly #subscribed: Promise<boolean>;

  constructor(redis: RedisConnection, onMessage: (cue: FanOutCue) => void) {
    this.#publisher = new RedisPublisher(redis);
    const channel = channelOf(redis);
    // A subscriber only ever sends SUBSCRIBE: it may wait for Redis (and resubscribes after each
    // reconnect) without holding up anything else.
    this.#subscriber = redis.client.duplicate({
      ...redis.clientOptions(),
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      commandTimeout: undefined,
    });
    this.#subscriber.on('error', () => {});
    this.#subscriber.on('message', (name: string, text: string) => {
      if (name !== channel) return;
      const parsed = parseMessage(text);
      // This instance's own messages: it has applied them already.
      if (parsed !== null && parsed.from !== this.#publisher.id) onMessage(parsed.type);
    });
    this.#subscribed = this.#subscriber.subscribe(channel).then(
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

  publish(message: FanOutMessage): Promise<void> {
    return this.#publisher.publish(message);
  }

  async close(): Promise<void> {
    this.#subscriber.disconnect();
  }
}
