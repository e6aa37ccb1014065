import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, statementTimeoutWarning } from '../../src/server/config.js';

function configError(env: Record<string, string>): { variable: string; message: string } {
  try {
    loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return { variable: error.variable, message: error.message };
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('has the defaults of DESIGN for an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 3000,
      issuer: 'http://localhost:3000',
      audience: 'http://localhost:3000',
      clientId: 'latchkey',
      alg: 'ES256',
      accessTtlSeconds: 900,
      clockToleranceSeconds: 30,
      refreshGraceSeconds: 10,
      maxSessionsPerUser: 100,
      database: { kind: 'sqlite', path: resolve('data/latchkey.sqlite') },
      redisUrl: null,
      redisPrefix: 'latchkey:',
      redisTimeoutMs: 500,
      masterKey: null,
      allowedOrigins: ['http://localhost:3000', 'http://127.0.0.1:3000', 'http://[::1]:3000'],
      trustProxy: false,
      secureCookies: false,
      hashConcurrency: null,
      logLevel: 'info',
      accessLogLevel: 'debug',
    });
  });

  it('reads every variable', () => {
    const config = loadConfig({
      HOST: '0.0.0.0',
      PORT: '8080',
      LATCHKEY_ISSUER: 'https://auth.example.com/',
      LATCHKEY_AUDIENCE: 'api',
      LATCHKEY_CLIENT_ID: 'web',
      LATCHKEY_ALG: 'EdDSA',
      LATCHKEY_ACCESS_TTL: '300',
      LATCHKEY_CLOCK_TOLERANCE: '0',
      LATCHKEY_REFRESH_GRACE: '60',
      LATCHKEY_MAX_SESSIONS_PER_USER: '10000',
      DATABASE_URL: 'sqlite:/tmp/x.sqlite',
      LATCHKEY_MASTER_KEY: 'ab'.repeat(32),
      LATCHKEY_ALLOWED_ORIGINS: 'https://app.example.com, https://admin.example.com',
      LATCHKEY_TRUST_PROXY: 'true',
      LATCHKEY_HASH_CONCURRENCY: '3',
      LOG_LEVEL: 'warn',
      LATCHKEY_ACCESS_LOG_LEVEL: 'info',
      REDIS_URL: 'rediss://cache.example.com:6380/2',
      LATCHKEY_REDIS_PREFIX: 'auth-eu.1:',
      LATCHKEY_REDIS_TIMEOUT_MS: '250',
    });
    expect(config).toMatchObject({
      redisUrl: 'rediss://cache.example.com:6380/2',
      redisPrefix: 'auth-eu.1:',
      redisTimeoutMs: 250,
      host: '0.0.0.0',
      port: 8080,
      issuer: 'https://auth.example.com',
      audience: 'api',
      clientId: 'web',
      alg: 'EdDSA',
      accessTtlSeconds: 300,
      clockToleranceSeconds: 0,
      refreshGraceSeconds: 60,
      maxSessionsPerUser: 10_000,
      database: { kind: 'sqlite', path: '/tmp/x.sqlite' },
      allowedOrigins: ['https://app.example.com', 'https://admin.example.com'],
      trustProxy: true,
      secureCookies: true,
      hashConcurrency: 3,
      logLevel: 'warn',
      accessLogLevel: 'info',
    });
    expect(loadConfig({ LATCHKEY_ACCESS_LOG_LEVEL: 'off' }).accessLogLevel).toBe('off');
    expect(config.masterKey).toEqual(Buffer.alloc(32, 0xab));
    expect(loadConfig({ LATCHKEY_MASTER_KEY: Buffer.alloc(32, 1).toString('base64') }).masterKey).toEqual(
      Buffer.alloc(32, 1),
    );
    expect(loadConfig({ DATABASE_URL: 'postgres://u@h/db' }).database).toEqual({
      kind: 'postgres',
      url: 'postgres://u@h/db',
      poolSize: 10,
      statementTimeoutMs: 10_000,
    });
    expect(
      loadConfig({
        DATABASE_URL: 'postgresql://u:p%40ss@h:6432/db?sslmode=require',
        LATCHKEY_PG_POOL_SIZE: '25',
        LATCHKEY_PG_STATEMENT_TIMEOUT_MS: '0',
      }).database,
    ).toEqual({
      kind: 'postgres',
      url: 'postgresql://u:p%40ss@h:6432/db?sslmode=require',
      poolSize: 25,
      statementTimeoutMs: 0,
    });
    expect(loadConfig({ DATABASE_URL: './x.sqlite' }).database).toEqual({
      kind: 'sqlite',
      path: resolve('x.sqlite'),
    });
  });

  it.each([
    ['off', false],
    ['0', false],
    ['ON', true],
    ['10.0.0.0/8', ['10.0.0.0/8']],
    [' 10.1.2.3 , fd00::/8,uniquelocal ', ['10.1.2.3', 'fd00::/8', 'uniquelocal']],
    ['loopback', ['loopback']],
  ])('reads LATCHKEY_TRUST_PROXY=%j as %j', (raw, expected) => {
    expect(loadConfig({ LATCHKEY_TRUST_PROXY: raw }).trustProxy).toEqual(expected);
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT', 'PORT: must be a whole number from 0 to 65535'],
    [{ PORT: '70000' }, 'PORT', 'PORT: must be from 0 to 65535'],
    [
      { LATCHKEY_ISSUER: 'auth.example.com' },
      'LATCHKEY_ISSUER',
      'LATCHKEY_ISSUER: must be an absolute http(s) URL',
    ],
    [
      { LATCHKEY_ISSUER: 'ftp://auth.example.com' },
      'LATCHKEY_ISSUER',
      'LATCHKEY_ISSUER: must be an http(s) URL',
    ],
    [
      { LATCHKEY_ISSUER: 'https://a.example?x=1' },
      'LATCHKEY_ISSUER',
      'LATCHKEY_ISSUER: must not have a query, fragment or credentials',
    ],
    [
      { LATCHKEY_ACCESS_LOG_LEVEL: 'silent' },
      'LATCHKEY_ACCESS_LOG_LEVEL',
      'LATCHKEY_ACCESS_LOG_LEVEL: must be fatal, error, warn, info, debug, trace or off',
    ],
    [{ LATCHKEY_ALG: 'none' }, 'LATCHKEY_ALG', 'LATCHKEY_ALG: must be ES256, EdDSA, RS256, PS256 or HS256'],
    [{ LATCHKEY_ALG: 'ES384' }, 'LATCHKEY_ALG', 'LATCHKEY_ALG: must be ES256, EdDSA, RS256, PS256 or HS256'],
    [{ LATCHKEY_ACCESS_TTL: '0' }, 'LATCHKEY_ACCESS_TTL', 'LATCHKEY_ACCESS_TTL: must be from 1 to 86400'],
    [
      { LATCHKEY_ACCESS_TTL: '1.5' },
      'LATCHKEY_ACCESS_TTL',
      'LATCHKEY_ACCESS_TTL: must be a whole number from 1 to 86400',
    ],
    [
      { LATCHKEY_CLOCK_TOLERANCE: '301' },
      'LATCHKEY_CLOCK_TOLERANCE',
      'LATCHKEY_CLOCK_TOLERANCE: must be from 0 to 300',
    ],
    [
      { LATCHKEY_MAX_SESSIONS_PER_USER: '0' },
      'LATCHKEY_MAX_SESSIONS_PER_USER',
      'LATCHKEY_MAX_SESSIONS_PER_USER: must be from 1 to 10000',
    ],
    [
      { LATCHKEY_MAX_SESSIONS_PER_USER: '10001' },
      'LATCHKEY_MAX_SESSIONS_PER_USER',
      'LATCHKEY_MAX_SESSIONS_PER_USER: must be from 1 to 10000',
    ],
    [
      { LATCHKEY_REFRESH_GRACE: '61' },
      'LATCHKEY_REFRESH_GRACE',
      'LATCHKEY_REFRESH_GRACE: must be from 0 to 60',
    ],
    [
      { LATCHKEY_HASH_CONCURRENCY: '0' },
      'LATCHKEY_HASH_CONCURRENCY',
      'LATCHKEY_HASH_CONCURRENCY: must be from 1 to 256',
    ],
    [
      { DATABASE_URL: 'mysql://h/db' },
      'DATABASE_URL',
      'DATABASE_URL: must be postgres://…, sqlite:PATH, or a file path',
    ],
    [
      { DATABASE_URL: 'postgres://u:pw@h:5432x/db' },
      'DATABASE_URL',
      'DATABASE_URL: the PostgreSQL URL is malformed: its port must be a number',
    ],
    [
      { LATCHKEY_PG_POOL_SIZE: '0' },
      'LATCHKEY_PG_POOL_SIZE',
      'LATCHKEY_PG_POOL_SIZE: must be from 1 to 1000',
    ],
    [
      { LATCHKEY_PG_STATEMENT_TIMEOUT_MS: '5s' },
      'LATCHKEY_PG_STATEMENT_TIMEOUT_MS',
      'LATCHKEY_PG_STATEMENT_TIMEOUT_MS: must be a whole number from 0 to 3600000',
    ],
    [
      { DATABASE_URL: 'sqlite:' },
      'DATABASE_URL',
      'DATABASE_URL: sqlite: needs a path, as in sqlite:./data/latchkey.sqlite',
    ],
    [{ REDIS_URL: 'localhost:6379' }, 'REDIS_URL', 'REDIS_URL: must be redis://… or rediss://…'],
    [
      { REDIS_URL: 'redis://127.0.0.1:notaport' },
      'REDIS_URL',
      'REDIS_URL: is not a valid URL: the port must be a number, and reserved characters in a password percent-encoded',
    ],
    [
      // The password is in no message: the whole URL stays out of logs.
      { REDIS_URL: 'redis://:s3cret%zz@127.0.0.1:6379' },
      'REDIS_URL',
      'REDIS_URL: has a user name or password whose percent-encoding is malformed',
    ],
    [
      { REDIS_URL: 'redis://127.0.0.1:6379/sessions' },
      'REDIS_URL',
      'REDIS_URL: must name its database as a number, as in redis://host:6379/0',
    ],
    [
      { LATCHKEY_REDIS_PREFIX: '' },
      'LATCHKEY_REDIS_PREFIX',
      'LATCHKEY_REDIS_PREFIX: must be 1 to 64 letters, digits or the characters : . _ - (as in latchkey:)',
    ],
    [
      { LATCHKEY_REDIS_PREFIX: 'latchkey*' },
      'LATCHKEY_REDIS_PREFIX',
      'LATCHKEY_REDIS_PREFIX: must be 1 to 64 letters, digits or the characters : . _ - (as in latchkey:)',
    ],
    [
      { LATCHKEY_REDIS_TIMEOUT_MS: '0' },
      'LATCHKEY_REDIS_TIMEOUT_MS',
      'LATCHKEY_REDIS_TIMEOUT_MS: must be from 10 to 60000',
    ],
    [
      { LATCHKEY_REDIS_TIMEOUT_MS: '1s' },
      'LATCHKEY_REDIS_TIMEOUT_MS',
      'LATCHKEY_REDIS_TIMEOUT_MS: must be a whole number from 10 to 60000',
    ],
    [
      { LATCHKEY_MASTER_KEY: 'short' },
      'LATCHKEY_MASTER_KEY',
      'LATCHKEY_MASTER_KEY: must be 32 random bytes as 64 hex digits or base64 (openssl rand -hex 32)',
    ],
    [
      { LATCHKEY_ALLOWED_ORIGINS: 'https://a.example/path' },
      'LATCHKEY_ALLOWED_ORIGINS',
      'LATCHKEY_ALLOWED_ORIGINS: lists origins, which have no path',
    ],
    [
      { LATCHKEY_ALLOWED_ORIGINS: 'not a url' },
      'LATCHKEY_ALLOWED_ORIGINS',
      'LATCHKEY_ALLOWED_ORIGINS: must be an absolute http(s) URL',
    ],
    ...[
      'maybe',
      '10.0.0.0/33',
      '10.0.0.1/8/1',
      '10.0.0.1,',
      'fd00::/129',
      '0.0.0.0/0',
      '::/0',
      '10.0.0.1/x',
    ].map(
      (raw) =>
        [
          { LATCHKEY_TRUST_PROXY: raw },
          'LATCHKEY_TRUST_PROXY',
          "LATCHKEY_TRUST_PROXY: must be true, false, or the proxies' addresses or CIDR ranges (or loopback, linklocal, uniquelocal)",
        ] as [Record<string, string>, string, string],
    ),
    // A hop count, as Express takes it: `1` is never read as `true`.
    ...['1', '2', '01'].map(
      (raw) =>
        [
          { LATCHKEY_TRUST_PROXY: raw },
          'LATCHKEY_TRUST_PROXY',
          "LATCHKEY_TRUST_PROXY: a number of proxies is not supported: give the proxies' addresses or CIDR ranges (or loopback, linklocal, uniquelocal), or true to believe every X-Forwarded-For",
        ] as [Record<string, string>, string, string],
    ),
    [
      { LOG_LEVEL: 'loud' },
      'LOG_LEVEL',
      'LOG_LEVEL: must be fatal, error, warn, info, debug, trace or silent',
    ],
  ])('refuses %j, naming the variable', (env, variable, message) => {
    expect(configError(env)).toEqual({ variable, message });
  });
});

describe('statementTimeoutWarning', () => {
  const postgres = (timeout: string) =>
    loadConfig({ DATABASE_URL: 'postgres://u@h/db', LATCHKEY_PG_STATEMENT_TIMEOUT_MS: timeout }).database;

  it('says nothing for SQLite, or a statement timeout within the 30 s readers look back', () => {
    expect(statementTimeoutWarning(loadConfig({}).database)).toBeNull();
    expect(statementTimeoutWarning(postgres('10000'))).toBeNull();
    expect(statementTimeoutWarning(postgres('30000'))).toBeNull();
  });

  it('warns of a longer statement timeout, or none, that a revocation can commit too late to be read', () => {
    expect(statementTimeoutWarning(postgres('30001'))).toBe(
      'LATCHKEY_PG_STATEMENT_TIMEOUT_MS is 30001: a revocation that waits longer than 30 s for a lock ' +
        'commits after other instances and resource servers have read past its time, and its access ' +
        'tokens stay accepted there until they expire; set it to 30000 ms or below',
    );
    expect(statementTimeoutWarning(postgres('0'))).toMatch(
      /^LATCHKEY_PG_STATEMENT_TIMEOUT_MS is 0 \(PostgreSQL's own statement_timeout, often none\): a revocation/,
    );
  });

  it('reads a statement timeout that DATABASE_URL sets, which wins over the variable', () => {
    const url = (query: string) =>
      loadConfig({ DATABASE_URL: `postgres://u@h/db?${query}`, LATCHKEY_PG_STATEMENT_TIMEOUT_MS: '0' })
        .database;
    expect(statementTimeoutWarning(url('statement_timeout=20000'))).toBeNull();
    expect(statementTimeoutWarning(url('options=-c%20statement_timeout%3D30s'))).toBeNull();
    expect(statementTimeoutWarning(url('statement_timeout=60000'))).toMatch(
      /^DATABASE_URL sets statement_timeout to 60000 ms: a revocation that waits longer than 30 s/,
    );
    expect(statementTimeoutWarning(url('options=-c%20statement_timeout%3D2min'))).toMatch(
      /^DATABASE_URL sets statement_timeout to 120000 ms: /,
    );
    expect(statementTimeoutWarning(url('options=--statement_timeout%3D0'))).toMatch(
      /^DATABASE_URL sets statement_timeout to 0 \(none\): /,
    );
    // Without one in the URL, the variable's 0 decides.
    expect(statementTimeoutWarning(url('sslmode=require'))).toMatch(
      /^LATCHKEY_PG_STATEMENT_TIMEOUT_MS is 0 /,
    );
  });
});
