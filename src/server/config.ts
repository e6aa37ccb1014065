/**
 * Configuration from environment variables (DESIGN "Running it"), checked once at start. A bad value
 * stops start-up with a message naming the variable; nothing is silently replaced by a default.
 */
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { DEFAULT_SESSION_POLICY } from '../auth/options.js';
import { StoreError } from '../errors.js';
import { type Algorithm, isAlgorithm } from '../jwt/index.js';
import { REVOCATION_REREAD } from '../revocation-reread.js';
import type { DatabaseConfig } from '../store/open.js';
import { DEFAULT_POSTGRES_OPTIONS, parsePostgresURL } from '../store/sql/postgres.js';

export type { DatabaseConfig } from '../store/open.js';

export interface ServerConfig {
  host: string;
  port: number;
  /** Without a trailing slash. */
  issuer: string;
  audience: string;
  clientId: string;
  alg: Algorithm;
  accessTtlSeconds: number;
  clockToleranceSeconds: number;
  refreshGraceSeconds: number;
  /** Live sessions a user may have; a login beyond it ends the least recently used. */
  maxSessionsPerUser: number;
  dataDir: string;
  database: DatabaseConfig;
  redisUrl: string | null;
  /** Before every Redis key and channel name, so deployments can share one Redis. */
  redisPrefix: string;
  /** How long a Redis command may take before the instance uses the store instead. */
  redisTimeoutMs: number;
  masterKey: Buffer | null;
  /** LATCHKEY_MASTER_KEY_PREVIOUS: opens keys sealed before the master key changed; never seals. */
  previousMasterKey: Buffer | null;
  allowedOrigins: readonly string[];
  trustProxy: TrustProxy;
  /** Password hashes computed at once; null for the default (CPUs − 1). */
  hashConcurrency: number | null;
  /** Cookies get `Secure` when the issuer is https. */
  secureCookies: boolean;
  logLevel: string;
  /** The level of the one log line per request, or `off`; below `logLevel` it is not written. */
  accessLogLevel: AccessLogLevel;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type AccessLogLevel = (typeof LOG_LEVELS)[number] | 'off';

/** The exit code of a process that refuses its configuration: the server, a cluster, the CLI alike. */
export const CONFIGURATION_REFUSED = 2;

export class ConfigError extends Error {
  readonly variable: string;

  constructor(variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

type Env = Readonly<Record<string, string | undefined>>;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(name, `must be a whole number from ${min} to ${max}`);
  const value = Number(raw.trim());
  if (value < min || value > max) throw new ConfigError(name, `must be from ${min} to ${max}`);
  return value;
}

/**
 * Whose `X-Forwarded-For` is believed (Fastify's `trustProxy`, with proxy-addr's rules): false, no
 * one's; the proxies at these addresses or CIDR ranges (or proxy-addr's `loopback`, `linklocal`,
 * `uniquelocal`), so the client address is the right-most entry that is not one of them, whatever a
 * client wrote to the left of it; true, everyone's, so the left-most entry counts. A number of hops
 * is not offered: Fastify trusts no one for it, since it cannot tell a proxy from a client.
 */
export type TrustProxy = boolean | readonly string[];

const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

function isProxyRange(entry: string): boolean {
  if (PROXY_RANGE_NAMES.includes(entry)) return true;
  const [address = '', bits, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  // proxy-addr refuses /0 (with a stack trace at start-up): trusting every address is `true`.
  return /^\d{1,3}$/.test(bits) && Number(bits) >= 1 && Number(bits) <= (family === 4 ? 32 : 128);
}

function trustProxy(env: Env): TrustProxy {
  const name = 'LATCHKEY_TRUST_PROXY';
  const raw = (env[name] ?? '').trim().toLowerCase();
  if (['', '0', 'false', 'no', 'off'].includes(raw)) return false;
  if (['true', 'yes', 'on'].includes(raw)) return true;
  // Express reads a number as the proxies in front of it; taking `1` for `true` would silently give
  // whoever copies that setting the mode in which any client picks its own address.
  if (/^\d+$/.test(raw)) {
    throw new ConfigError(
      name,
      "a number of proxies is not supported: give the proxies' addresses or CIDR ranges (or loopback, " +
        'linklocal, uniquelocal), or true to believe every X-Forwarded-For',
    );
  }
  const ranges = raw.split(',').map((entry) => entry.trim());
  if (ranges.every(isProxyRange)) return ranges;
  throw new ConfigError(
    name,
    "must be true, false, or the proxies' addresses or CIDR ranges (or loopback, linklocal, uniquelocal)",
  );
}

function httpUrl(name: string, raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(name, 'must be an absolute http(s) URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ConfigError(name, 'must be an http(s) URL');
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new ConfigError(name, 'must not have a query, fragment or credentials');
  }
  return url;
}

/** A 256-bit key as 64 hex digits or base64/base64url; anything else is refused rather than stretched. */
function masterKeyIn(env: Env, name: 'LATCHKEY_MASTER_KEY' | 'LATCHKEY_MASTER_KEY_PREVIOUS'): Buffer | null {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return null;
  const key = /^[0-9a-fA-F]{64}$/.test(raw)
    ? Buffer.from(raw, 'hex')
    : /^[A-Za-z0-9+/_-]{43}=?$/.test(raw)
      ? Buffer.from(raw, 'base64url')
      : null;
  if (key === null || key.length !== 32) {
    throw new ConfigError(name, 'must be 32 random bytes as 64 hex digits or base64 (openssl rand -hex 32)');
  }
  return key;
}

/** The master key before this one, still opening what it sealed while the keys are re-sealed. */
function previousMasterKey(env: Env, current: Buffer | null): Buffer | null {
  const previous = masterKeyIn(env, 'LATCHKEY_MASTER_KEY_PREVIOUS');
  if (previous === null) return null;
  if (current === null) {
    throw new ConfigError(
      'LATCHKEY_MASTER_KEY_PREVIOUS',
      'needs LATCHKEY_MASTER_KEY, the key that replaces it',
    );
  }
  if (previous.equals(current)) {
    throw new ConfigError('LATCHKEY_MASTER_KEY_PREVIOUS', 'is the same key as LATCHKEY_MASTER_KEY');
  }
  return previous;
}

/**
 * REDIS_URL, read now as ioredis will read it (WHATWG URL, percent-decoded credentials, the path as a
 * database number), so that a bad one stops the start naming the variable rather than as a TypeError
 * from inside ioredis, and a CLI command refuses it before it changes anything. No message repeats it:
 * it may hold a password.
 */
function redisURL(raw: string): string {
  if (!/^rediss?:\/\//.test(raw)) throw new ConfigError('REDIS_URL', 'must be redis://… or rediss://…');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(
      'REDIS_URL',
      'is not a valid URL: the port must be a number, and reserved characters in a password percent-encoded',
    );
  }
  try {
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
  } catch {
    throw new ConfigError('REDIS_URL', 'has a user name or password whose percent-encoding is malformed');
  }
  const database = url.pathname.slice(1);
  if (database !== '' && !/^\d{1,5}$/.test(database)) {
    throw new ConfigError('REDIS_URL', 'must name its database as a number, as in redis://host:6379/0');
  }
  return raw;
}

/** A PostgreSQL URL checked as the store will read it; the message never repeats the URL. */
function postgresURL(raw: string): string {
  try {
    parsePostgresURL(raw);
  } catch (error) {
    if (error instanceof StoreError) throw new ConfigError('DATABASE_URL', error.message);
    throw error;
  }
  return raw;
}

function database(env: Env, dataDir: string): DatabaseConfig {
  // Checked whichever database is chosen: a bad value is refused, not ignored until it matters.
  const poolSize = integer(env, 'LATCHKEY_PG_POOL_SIZE', DEFAULT_POSTGRES_OPTIONS.poolSize, 1, 1000);
  const statementTimeoutMs = integer(
    env,
    'LATCHKEY_PG_STATEMENT_TIMEOUT_MS',
    DEFAULT_POSTGRES_OPTIONS.statementTimeoutMs,
    0,
    3_600_000,
  );
  const raw = env.DATABASE_URL?.trim();
  if (raw === undefined || raw === '') return { kind: 'sqlite', path: resolve(dataDir, 'latchkey.sqlite') };
  if (/^postgres(ql)?:\/\//.test(raw)) {
    return { kind: 'postgres', url: postgresURL(raw), poolSize, statementTimeoutMs };
  }
  if (raw.startsWith('sqlite:')) {
    const path = raw.slice('sqlite:'.length);
    if (path === '')
      throw new ConfigError('DATABASE_URL', 'sqlite: needs a path, as in sqlite:./data/latchkey.sqlite');
    return { kind: 'sqlite', path: path === ':memory:' ? path : resolve(path) };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) {
    throw new ConfigError('DATABASE_URL', 'must be postgres://…, sqlite:PATH, or a file path');
  }
  return { kind: 'sqlite', path: resolve(raw) };
}

/** The origins allowed for cookie requests; with a localhost issuer, its loopback twins too. */
function allowedOrigins(env: Env, issuer: URL): string[] {
  const raw = env.LATCHKEY_ALLOWED_ORIGINS?.trim();
  if (raw !== undefined && raw !== '') {
    return raw.split(',').map((entry) => {
      const url = httpUrl('LATCHKEY_ALLOWED_ORIGINS', entry.trim());
      if (url.pathname !== '/')
        throw new ConfigError('LATCHKEY_ALLOWED_ORIGINS', 'lists origins, which have no path');
      return url.origin;
    });
  }
  const origins = [issuer.origin];
  if (issuer.hostname === 'localhost') {
    const port = issuer.port === '' ? '' : `:${issuer.port}`;
    origins.push(`${issuer.protocol}//127.0.0.1${port}`, `${issuer.protocol}//[::1]${port}`);
  }
  return origins;
}

const DURATION_UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** A PostgreSQL duration setting (`60000`, `30s`, `1min`) in ms; null when it is not one. */
function postgresDurationMs(value: string): number | null {
  const match = /^\s*(\d+)\s*(ms|s|min|h|d)?\s*$/.exec(value);
  return match === null ? null : Number(match[1]) * (DURATION_UNITS[match[2] ?? 'ms'] ?? 1);
}

/** The statement timeout `DATABASE_URL` sets, which wins over LATCHKEY_PG_STATEMENT_TIMEOUT_MS. */
function urlStatementTimeoutMs(url: string): number | null {
  const query = new URL(url).searchParams;
  const direct = query.get('statement_timeout');
  if (direct !== null) return postgresDurationMs(direct);
  const option = /(?:^|\s)(?:-c\s*|--)statement_timeout=(\S+)/.exec(query.get('options') ?? '');
  return option === null ? null : postgresDurationMs(option[1] ?? '');
}

/**
 * A warning when PostgreSQL statements may wait for locks longer than readers of revocations look back
 * for late commits (revocation-reread.ts): such a revocation can be missed by other instances and
 * resource servers, and its access tokens stay accepted there until they expire.
 */
export function statementTimeoutWarning(database: DatabaseConfig): string | null {
  if (database.kind !== 'postgres') return null;
  const fromURL = urlStatementTimeoutMs(database.url);
  const timeoutMs = fromURL ?? database.statementTimeoutMs;
  if (timeoutMs !== 0 && timeoutMs <= REVOCATION_REREAD.deepMs) return null;
  const what =
    fromURL !== null
      ? `DATABASE_URL sets statement_timeout to ${timeoutMs === 0 ? '0 (none)' : `${timeoutMs} ms`}`
      : timeoutMs === 0
        ? "LATCHKEY_PG_STATEMENT_TIMEOUT_MS is 0 (PostgreSQL's own statement_timeout, often none)"
        : `LATCHKEY_PG_STATEMENT_TIMEOUT_MS is ${timeoutMs}`;
  return (
    `${what}: a revocation that waits longer than ${REVOCATION_REREAD.deepMs / 1000} s for a lock commits ` +
    'after other instances and resource servers have read past its time, and its access tokens stay ' +
    `accepted there until they expire; set it to ${REVOCATION_REREAD.deepMs} ms or below`
  );
}

export function loadConfig(env: Env = process.env): ServerConfig {
  const host = env.HOST?.trim() || '127.0.0.1';
  const port = integer(env, 'PORT', 3000, 0, 65535);
  const issuerUrl = httpUrl('LATCHKEY_ISSUER', env.LATCHKEY_ISSUER?.trim() || `http://localhost:${port}`);
  const issuer = issuerUrl.href.replace(/\/$/, '');
  const alg = env.LATCHKEY_ALG?.trim() || 'ES256';
  if (!isAlgorithm(alg) || !['ES256', 'EdDSA', 'RS256', 'PS256', 'HS256'].includes(alg)) {
    throw new ConfigError('LATCHKEY_ALG', 'must be ES256, EdDSA, RS256, PS256 or HS256');
  }
  const audience = env.LATCHKEY_AUDIENCE?.trim() || issuer;
  const clientId = env.LATCHKEY_CLIENT_ID?.trim() || 'latchkey';
  const dataDir = resolve(env.LATCHKEY_DATA_DIR?.trim() || './data');
  const logLevel = env.LOG_LEVEL?.trim() || 'info';
  if (![...LOG_LEVELS, 'silent'].includes(logLevel)) {
    throw new ConfigError('LOG_LEVEL', 'must be fatal, error, warn, info, debug, trace or silent');
  }
  // Per-request lines cost more than the rest of a cheap request; they are there to be turned on.
  const accessLogLevel = env.LATCHKEY_ACCESS_LOG_LEVEL?.trim() || 'debug';
  if (!isAccessLogLevel(accessLogLevel)) {
    throw new ConfigError(
      'LATCHKEY_ACCESS_LOG_LEVEL',
      'must be fatal, error, warn, info, debug, trace or off',
    );
  }
  const rawRedisUrl = env.REDIS_URL?.trim() || null;
  const redisUrl = rawRedisUrl === null ? null : redisURL(rawRedisUrl);
  const redisPrefix = env.LATCHKEY_REDIS_PREFIX ?? 'latchkey:';
  // Glob characters would make the prefix match other deployments' keys in a scan.
  if (!/^[A-Za-z0-9:._-]{1,64}$/.test(redisPrefix)) {
    throw new ConfigError(
      'LATCHKEY_REDIS_PREFIX',
      'must be 1 to 64 letters, digits or the characters : . _ - (as in latchkey:)',
    );
  }
  const currentMasterKey = masterKeyIn(env, 'LATCHKEY_MASTER_KEY');
  return {
    host,
    port,
    issuer,
    audience,
    clientId,
    alg,
    accessTtlSeconds: integer(env, 'LATCHKEY_ACCESS_TTL', 900, 1, 86400),
    clockToleranceSeconds: integer(env, 'LATCHKEY_CLOCK_TOLERANCE', 30, 0, 300),
    refreshGraceSeconds: integer(env, 'LATCHKEY_REFRESH_GRACE', 10, 0, 60),
    maxSessionsPerUser: integer(
      env,
      'LATCHKEY_MAX_SESSIONS_PER_USER',
      DEFAULT_SESSION_POLICY.maxLivePerUser,
      1,
      10_000,
    ),
    dataDir,
    database: database(env, dataDir),
    redisUrl,
    redisPrefix,
    redisTimeoutMs: integer(env, 'LATCHKEY_REDIS_TIMEOUT_MS', 500, 10, 60_000),
    masterKey: currentMasterKey,
    previousMasterKey: previousMasterKey(env, currentMasterKey),
    allowedOrigins: allowedOrigins(env, issuerUrl),
    trustProxy: trustProxy(env),
    hashConcurrency:
      env.LATCHKEY_HASH_CONCURRENCY === undefined || env.LATCHKEY_HASH_CONCURRENCY.trim() === ''
        ? null
        : integer(env, 'LATCHKEY_HASH_CONCURRENCY', 1, 1, 256),
    secureCookies: issuerUrl.protocol === 'https:',
    logLevel,
    accessLogLevel,
  };
}

function isAccessLogLevel(value: string): value is AccessLogLevel {
  return value === 'off' || (LOG_LEVELS as readonly string[]).includes(value);
}
