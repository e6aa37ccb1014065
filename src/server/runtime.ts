/**
 * The running parts of one Latchkey instance, wired from the configuration: store, password hasher,
 * throttle, signing keys, access tokens, revocation set and the auth service, plus the background
 * work they need (key maintenance, revocation sync, housekeeping). The HTTP app is built on top.
 */
import { randomBytes } from 'node:crypto';
import { AccessTokens } from '../auth/access-tokens.js';
import { DEFAULT_SESSION_POLICY, type ResolvedAuthOptions } from '../auth/options.js';
import { type Argon2Parameters, DEFAULT_ARGON2, PasswordHasher } from '../auth/passwords.js';
import { RevokedSessions } from '../auth/revocations.js';
import { type AuthEvent, AuthService } from '../auth/service.js';
import { type SigningKeyPolicy, SigningKeys } from '../auth/signing-keys.js';
import { DEFAULT_THROTTLE, Throttle, type ThrottlePolicy } from '../auth/throttle.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/types.js';
import type { ServerConfig } from './config.js';
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
  /** A worker of `latchkey serve --workers N`: /metrics answers the sum over every worker. */
  clusterWorker?: boolean;
}

export type BackgroundTask = 'sync' | 'key-maintenance' | 'housekeeping' | 'checkpoint';

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

/** Every refresh secret is 32 random bytes, created by the first instance and shared through the store. */
async function refreshSecret(store: Store): Promise<Buffer> {
  const stored = await store.ensureSecret('refresh-token-successor', randomBytes(32).toString('base64url'));
  return Buffer.from(stored, 'base64url');
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
  const store =
    options.store ??
    (await openStore(config.database, { onCheckpoint: (error) => ran('checkpoint', error) }));
  const accessTtlMs = config.accessTtlSeconds * 1000;
  const toleranceMs = config.clockToleranceSeconds * 1000;
  const keys = new SigningKeys(store, signingKeyPolicy(config), config.masterKey, {
    now,
    matchStoredSealing: options.matchStoredSealing ?? false,
  });
  if (options.adoptAlgorithm ?? true) await keys.start();
  else await keys.maintain();
  const revocations = new RevokedSessions(accessTtlMs + toleranceMs);
  await revocations.sync(store, now());
  const passwords = new PasswordHasher({
    argon2: options.argon2 ?? DEFAULT_ARGON2,
    ...(config.hashConcurrency === null ? {} : { maxConcurrent: config.hashConcurrency }),
  });
  const auth: ResolvedAuthOptions = {
    sessions: { ...DEFAULT_SESSION_POLICY, refreshGraceMs: config.refreshGraceSeconds * 1000 },
    throttle: options.throttle ?? DEFAULT_THROTTLE,
  };
  const accessTokens = new AccessTokens(keys, {
    issuer: config.issuer,
    audience: config.audience,
    clientId: config.clientId,
    ttlSeconds: config.accessTtlSeconds,
    clockToleranceSeconds: config.clockToleranceSeconds,
    now,
  });
  const service = new AuthService({
    store,
    passwords,
    throttle: new Throttle(store, auth.throttle),
    accessTokens,
    revocations,
    refreshSecret: await refreshSecret(store),
    options: auth,
    now,
    onEvent: (event) => {
      metrics.record(event);
      options.onEvent?.(event);
    },
  });

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
      await Promise.all([revocations.sync(store, now()), keys.reload()]);
      // Nothing to sign with (a key revoked elsewhere without a replacement we can read): heal now.
      if (!keys.hasSigningKey) await keys.maintain();
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
    async close() {
      for (const timer of timers) clearInterval(timer);
      if (ownsStore) await store.close();
    },
  };
}
