/**
 * The running parts of one Latchkey instance, wired from the configuration: store, password hasher,
 * throttle, signing keys, access tokens, revocation set and the auth service, plus the background
 * work they need (key maintenance, revocation sync, housekeeping). The HTTP app is built on top.
 */
import { randomBytes } from 'node:crypto';
import { AccessTokens } from '../auth/access-tokens.js';
import { LocalAttemptsInFlight } from '../auth/local-attempts-in-flight.js';
import { DEFAULT_SESSION_POLICY, type ResolvedAuthOptions } from '../auth/options.js';
import { type Argon2Parameters, DEFAULT_ARGON2, PasswordHasher } from '../auth/passwords.js';
import { RevokedSessions } from '../auth/revocations.js';
import { SecretUnreadable, sharedSecret } from '../auth/sealed-secrets.js';
import { type AuthEvent, AuthService } from '../auth/service.js';
import { type SigningKeyPolicy, SigningKeys, signingAlgorithmOf } from '../auth/signing-keys.js';
import { DEFAULT_THROTTLE, Throttle, type ThrottlePolicy } from '../auth/throttle.js';
import type { AttemptsInFlight } from '../store/attempts-in-flight.js';
import { CounterAttemptsInFlight } from '../store/counter-attempts-in-flight.js';
import { openStore } from '../store/open.js';
import { RedisAttemptsInFlight } from '../store/redis/attempts-in-flight.js';
import { RedisConnection } from '../store/redis/connection.js';
import { RedisCounterStore } from '../store/redis/counter-store.js';
import { FailoverAttemptsInFlight, FailoverCounterStore } from '../store/redis/failover.js';
import { type FanOutMessage, type FanOutPublisher, RedisFanOut } from '../store/redis/fan-out.js';
import { publishingChanges } from '../store/redis/publishing-store.js';
import { GroupSync } from '../store/sql/group-sync.js';
import type { CounterStore, KeyStore, Store } from '../store/types.js';
import { ConfigError, type ServerConfig, statementTimeoutWarning } from './config.js';
import { Metrics } from './metrics.js';

const DAY = 86_400_000;
/** How often an instance reads what others changed: revoked sessions, new and revoked keys. */
const SYNC_INTERVAL_MS = 500;

export interface RuntimeOptions {
  /** Use this store instead of opening the configured one (tests); it is not closed by `close()`. */
  store?: Store;
  argon2?: Argon2Parameters;
  throttle?: ThrottlePolicy;
  now?: () => number;
  onEvent?: (event: AuthEvent) => void;
  /** Background timers; off for tests that drive time themselves. Default on. */
  background?: boolean;
  /** Told of every failure of background work, which is retried on its next tick. */
  onBackgroundError?: (task: BackgroundTask, error: unknown) => void;
  /**
   * Adopt LATCHKEY_ALG at start (rotate to it when the key signing now has another algorithm). Servers
   * do; the CLI does not, as its environment may not be the servers'. Default true.
   */
  adoptAlgorithm?: boolean;
  /** Refuse to write keys the servers may not read (see `SigningKeysOptions`). Default false. */
  matchStoredSealing?: boolean;
  /**
   * Whether it refreshes tokens, and so must open the stored refresh secret to start. Servers do; the
   * CLI does not, and so revokes a key even without the master key at hand. Default true.
   */
  refreshes?: boolean;
  /** Told once when Redis (REDIS_URL) goes away, with why, and once when it is back. */
  onRedisAvailabilityChange?: (available: boolean, reason: string) => void;
  /** A worker of `latchkey serve --workers N`: /metrics answers the sum over every worker. */
  clusterWorker?: boolean;
  /**
   * Publish changes here and leave REDIS_URL alone otherwise: for the CLI, which makes a change and
   * exits, and needs neither shared counters nor to hear of other instances' changes.
   */
  fanOut?: FanOutPublisher;
}

export type BackgroundTask = 'sync' | 'key-maintenance' | 'housekeeping' | 'checkpoint' | 'fan-out';

/** How long start-up waits for Redis before serving from the store alone (it keeps reconnecting). */
const REDIS_START_WAIT_MS = 2000;

/** Background work that failed on its last ticks: what /readyz reports. */
export interface BackgroundHealth {
  task: BackgroundTask;
  consecutiveFailures: number;
  lastError: string;
}

export interface Runtime {
  config: ServerConfig;
  store: Store;
  service: AuthService;
  keys: SigningKeys;
  revocations: RevokedSessions;
  passwords: PasswordHasher;
  metrics: Metrics;
  now: () => number;
  /** Background tasks whose last run failed, with how many runs in a row. */
  failingBackgroundWork(): BackgroundHealth[];
  /** What the operator should fix, found at start (a server logs each once). */
  warnings: readonly string[];
  close(): Promise<void>;
}

/** How the configured server rotates and keeps its keys; the CLI reads keys by the same rules. */
export function signingKeyPolicy(config: ServerConfig): SigningKeyPolicy {
  return {
    alg: config.alg,
    rotationMs: 30 * DAY,
    prePublishMs: 2 * DAY,
    retentionMs: (config.accessTtlSeconds + config.clockToleranceSeconds) * 1000,
  };
}

/** The refresh secret: 32 random bytes, created by the first instance and shared through the store. */
export const REFRESH_SECRET = {
  name: 'refresh-token-successor',
  create: () => randomBytes(32).toString('base64url'),
} as const;

/** What a server's refresh secret is, for the runtime to hand on and to warn about. */
interface RefreshSecret {
  get: () => Buffer;
  /** Something for the operator to do, said once at start; null when there is nothing. */
  warning: string | null;
}

/**
 * The refresh secret, sealed with the master key as the signing keys are; a master key that opens it
 * not is a setting to fix, and a server refuses to start. A runtime that never refreshes (the CLI,
 * which must revoke a key even without the master key at hand) neither reads nor creates it: a CLI
 * with another master key than the servers' would seal a new one they could not open.
 */
async function refreshSecret(
  store: KeyStore,
  config: ServerConfig,
  refreshes: boolean,
): Promise<RefreshSecret> {
  if (!refreshes) {
    return {
      get: () => {
        throw new Error('this runtime does not refresh tokens (RuntimeOptions.refreshes is false)');
      },
      warning: null,
    };
  }
  try {
    const { text, sealed } = await sharedSecret(store, REFRESH_SECRET.name, config, REFRESH_SECRET.create);
    const secret = Buffer.from(text, 'base64url');
    return {
      get: () => secret,
      // Made before the master key was set (or by a version that did not seal it): a dump gives it away.
      warning:
        config.masterKey !== null && !sealed
          ? 'the refresh-token secret is stored unencrypted although LATCHKEY_MASTER_KEY is set: run `latchkey keys reseal` once'
          : null,
    };
  } catch (error) {
    if (error instanceof SecretUnreadable) throw new ConfigError('LATCHKEY_MASTER_KEY', error.message);
    throw error;
  }
}

export async function createRuntime(config: ServerConfig, options: RuntimeOptions = {}): Promise<Runtime> {
  const now = options.now ?? Date.now;
  const metrics = new Metrics({ acrossWorkers: options.clusterWorker ?? false });
  const failing = new Map<BackgroundTask, BackgroundHealth>();
  // Failures are retried on the next run; they are logged and counted, never thrown away.
  const ran = (task: BackgroundTask, error: unknown) => {
    if (error === null) {
      failing.delete(task);
      return;
    }
    metrics.backgroundFailures.inc({ task });
    const lastError = error instanceof Error ? error.message : String(error);
    const consecutiveFailures = (failing.get(task)?.consecutiveFailures ?? 0) + 1;
    failing.set(task, { task, consecutiveFailures, lastError });
    options.onBackgroundError?.(task, error);
  };
  const ownsStore = options.store === undefined;
  const opened =
    options.store ??
    (await openStore(config.database, { onCheckpoint: (error) => ran('checkpoint', error) }));
  const accessTtlMs = config.accessTtlSeconds * 1000;
  const toleranceMs = config.clockToleranceSeconds * 1000;
  const throttlePolicy = options.throttle ?? DEFAULT_THROTTLE;

  // Redis, when configured: counters and logins in flight shared through it, and revocations and key
  // changes told to every instance at once. Everything falls back to the store while it is away.
  const redis =
    config.redisUrl === null || options.fanOut !== undefined
      ? null
      : new RedisConnection({
          url: config.redisUrl,
          prefix: config.redisPrefix,
          timeoutMs: config.redisTimeoutMs,
          now,
          onCommandFailure: () => metrics.redisFailures.inc(),
          ...(options.onRedisAvailabilityChange === undefined
            ? {}
            : { onAvailabilityChange: options.onRedisAvailabilityChange }),
        });
  let fanOut: RedisFanOut | null = null;
  // Messages that arrive before the parts they change exist are left to the next poll.
  let apply: (cue: FanOutMessage['type']) => void = () => {};
  if (redis !== null) {
    metrics.watchRedis(() => redis.available);
    fanOut = new RedisFanOut(redis, (cue) => apply(cue));
    await Promise.all([
      redis.waitUntilAvailable(REDIS_START_WAIT_MS),
      fanOut.waitUntilSubscribed(REDIS_START_WAIT_MS),
    ]);
  }
  // Every change written through here (sessions ended, keys changed) is told to the other instances.
  const publisher = options.fanOut ?? fanOut;
  const store = publisher === null ? opened : publishingChanges(opened, publisher);
  const counters: CounterStore =
    redis === null
      ? store
      : new FailoverCounterStore(
          redis,
          new RedisCounterStore(redis),
          store,
          Math.max(
            throttlePolicy.pairWindowMs,
            throttlePolicy.accountWindowMs,
            throttlePolicy.ipWindowMs,
            throttlePolicy.registrationWindowMs,
          ),
        );
  // Without Redis, instances sharing PostgreSQL share the count through its counters, and so do the
  // workers of one SQLite file; a single SQLite process counts in memory, exact and free.
  const onReleaseError = (error: unknown) => ran('sync', error);
  const inFlightFallback: AttemptsInFlight =
    config.database.kind === 'postgres' || options.clusterWorker === true
      ? new CounterAttemptsInFlight(store, { onReleaseError })
      : new LocalAttemptsInFlight();
  const inFlight =
    redis === null
      ? inFlightFallback
      : new FailoverAttemptsInFlight(
          redis,
          new RedisAttemptsInFlight(redis, { onReleaseError }),
          inFlightFallback,
        );
  const adoptAlgorithm = options.adoptAlgorithm ?? true;
  const policy = signingKeyPolicy(config);
  // A process that does not adopt LATCHKEY_ALG (the CLI) works in the servers' kind of key: its own
  // setting must never add a key of another kind to the store, which the servers would not use.
  if (!adoptAlgorithm) policy.alg = signingAlgorithmOf(await store.listSigningKeys(), now()) ?? policy.alg;
  const keys = new SigningKeys(store, policy, config.masterKey, {
    now,
    previousMasterKey: config.previousMasterKey,
    matchStoredSealing: options.matchStoredSealing ?? false,
  });
  /**
   * Start-up failed: close what it opened (Redis, whose sockets would keep a CLI process alive, and
   * the store) before passing the failure on.
   */
  const closingOnFailure = async <T>(work: Promise<T>): Promise<T> => {
    try {
      return await work;
    } catch (error) {
      await fanOut?.close();
      await redis?.close();
      if (ownsStore) await store.close();
      throw error;
    }
  };
  const startKeys = async () => {
    await (adoptAlgorithm ? keys.start() : keys.maintain());
    // The key that signs is stored, but this master key does not open it: serving would fail every
    // login and refresh. A wrong or missing LATCHKEY_MASTER_KEY does this; say so instead of starting.
    if (adoptAlgorithm && !keys.hasSigningKey && keys.problems.length > 0) {
      const kids = keys.problems.map(({ kid }) => kid).join(', ');
      throw new ConfigError(
        'LATCHKEY_MASTER_KEY',
        // Only when every unreadable key is sealed: a damaged unsealed row is not a missing key.
        config.masterKey === null && keys.problems.every(({ sealed }) => sealed)
          ? `is not set, and the stored signing keys (${kids}) are encrypted: start with the master key ` +
              'they were stored with'
          : `does not decrypt the stored signing keys (${kids}): start with the master key they were stored with`,
      );
    }
  };
  await closingOnFailure(startKeys());
  const revocations = new RevokedSessions(accessTtlMs + toleranceMs);
  await closingOnFailure(revocations.sync(store, now()));
  const passwords = new PasswordHasher({
    argon2: options.argon2 ?? DEFAULT_ARGON2,
    ...(config.hashConcurrency === null ? {} : { maxConcurrent: config.hashConcurrency }),
  });
  const auth: ResolvedAuthOptions = {
    sessions: {
      ...DEFAULT_SESSION_POLICY,
      refreshGraceMs: config.refreshGraceSeconds * 1000,
      maxLivePerUser: config.maxSessionsPerUser,
    },
    throttle: throttlePolicy,
  };
  const accessTokens = new AccessTokens(keys, {
    issuer: config.issuer,
    audience: config.audience,
    clientId: config.clientId,
    ttlSeconds: config.accessTtlSeconds,
    clockToleranceSeconds: config.clockToleranceSeconds,
    now,
  });
  const secret = await closingOnFailure(refreshSecret(store, config, options.refreshes ?? true));
  const service = new AuthService({
    store,
    passwords,
    throttle: new Throttle(counters, auth.throttle, inFlight),
    accessTokens,
    revocations,
    refreshSecret: secret.get,
    options: auth,
    now,
    onEvent: (event) => {
      metrics.record(event);
      options.onEvent?.(event);
    },
  });

  /** A key change elsewhere: the same as the sync below does, at once. */
  const reloadKeys = async () => {
    await keys.reload();
    if (!keys.hasSigningKey) await keys.maintain();
  };
  let closed = false;
  // A message is only a cue to read the store now: whoever can publish on Redis must not be able to
  // revoke a session the store does not hold revoked, nor fill memory with made-up ids. Messages that
  // arrive while a read is under way share the next one, so a flood costs at most two reads at a time.
  const cues = {
    'sessions-revoked': new GroupSync(() => revocations.sync(store, now())),
    'keys-changed': new GroupSync(reloadKeys),
  };
  apply = (cue) => {
    if (closed) return;
    cues[cue].sync().then(
      () => ran('fan-out', null),
      (error: unknown) => ran('fan-out', error ?? new Error('failed')),
    );
  };

  const timers: NodeJS.Timeout[] = [];
  if (options.background ?? true) {
    const every = (ms: number, task: BackgroundTask, work: () => Promise<unknown>) => {
      const timer = setInterval(
        () =>
          void work().then(
            () => ran(task, null),
            (error: unknown) => ran(task, error ?? new Error('failed')),
          ),
        ms,
      );
      timer.unref();
      timers.push(timer);
    };
    // Revoked sessions and revoked or rotated keys reach this instance within a second of their commit.
    every(SYNC_INTERVAL_MS, 'sync', async () => {
      // Nothing to sign with (a key revoked elsewhere without a replacement we can read): heal now.
      await Promise.all([revocations.sync(store, now()), reloadKeys()]);
      if (keys.problems.length > 0) {
        const names = keys.problems.map(({ kid, reason }) => `${kid}: ${reason}`).join('; ');
        throw new Error(`signing keys that cannot be read are left out: ${names}`);
      }
    });
    every(60_000, 'key-maintenance', () => keys.maintain());
    // Housekeeping. Ended sessions stay a day longer than any of their access tokens can live, so the
    // revocation feed still lists them for instances and resource servers that start late; counters
    // go when their window ends (failed logins for made-up emails would otherwise pile up).
    const sessionRetentionMs = accessTtlMs + toleranceMs + DAY;
    every(3_600_000, 'housekeeping', () =>
      Promise.all([
        store.deleteExpiredSessions(now() - sessionRetentionMs),
        store.deleteExpiredCounters(now()),
      ]),
    );
  }

  return {
    config,
    store,
    service,
    keys,
    revocations,
    passwords,
    metrics,
    now,
    failingBackgroundWork: () => [...failing.values()],
    warnings: [secret.warning, statementTimeoutWarning(config.database)].filter(
      (warning): warning is string => warning !== null,
    ),
    async close() {
      closed = true;
      for (const timer of timers) clearInterval(timer);
      await Promise.all(Object.values(cues).map((cue) => cue.settled()));
      await fanOut?.close();
      await redis?.close();
      if (ownsStore) await store.close();
    },
  };
}
