/**
 * No secret in the logs: a whole account life (register, login in both modes, refresh, password
 * change, logout, and the usual failures) logged at level trace, then every password, refresh token,
 * access token, cookie value and Authorization value is searched for in the captured text.
 */
import { Writable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { decodeUnverified } from '../../src/jwt/index.js';
import { buildApp } from '../../src/server/app.js';
import { loggablePath, REDACTED_PATHS } from '../../src/server/logging.js';
import { FAST_ARGON2, SAME_ORIGIN, testConfig } from '../support/app.js';
import { refreshCookie } from './helpers.js';

interface CapturedLog {
  text: () => string;
  stream: Writable;
}

function captureLog(): CapturedLog {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      chunks.push(chunk.toString());
      callback();
    },
  });
  return { stream, text: () => chunks.join('') };
}

const REDACT = { paths: REDACTED_PATHS, censor: '[redacted]' };

/** Serializers that log every request and response header: the redaction has to catch them. */
const VERBOSE_SERIALIZERS = {
  req: (request: FastifyRequest) => ({ method: request.method, url: request.url, headers: request.headers }),
  res: (reply: Partial<Pick<FastifyReply, 'getHeaders'>> & Pick<FastifyReply, 'statusCode'>) => ({
    statusCode: reply.statusCode,
    headers: reply.getHeaders?.(),
  }),
};

const PASSWORD = 'Tr0ub4dor&3-original';
const NEW_PASSWORD = 'c0rrect-h0rse-battery-new';
const WRONG_PASSWORD = 'Wr0ng-guess-passw0rd';

/** The trace-level log of an account's whole life, with `logger` options on top, and its secrets. */
async function logOfAccountLife(logger: {
  serializers?: typeof VERBOSE_SERIALIZERS;
}): Promise<{ text: string; secrets: string[] }> {
  const log = captureLog();
  const app = await buildApp(testConfig(), {
    logger: { level: 'trace', stream: log.stream, redact: REDACT, ...logger },
    argon2: FAST_ARGON2,
    background: false,
  });
  try {
    const secrets = await runAccountLife(app);
    return { text: log.text(), secrets };
  } finally {
    await app.close();
  }
}

/** Runs the account's whole life and returns every secret it saw. */
async function runAccountLife(app: FastifyInstance): Promise<string[]> {
  const secrets = [PASSWORD, NEW_PASSWORD, WRONG_PASSWORD];
  const email = 'logged@example.com';
  const post = (url: string, extra: Record<string, unknown>) => app.inject({ method: 'POST', url, ...extra });

  expect((await post('/auth/register', { payload: { email, password: PASSWORD } })).statusCode).toBe(201);
  // Failures that carry a password: a wrong one, a non-JSON body, a body with an unknown property.
  expect((await post('/auth/login', { payload: { email, password: WRONG_PASSWORD } })).statusCode).toBe(401);
  const broken = await post('/auth/login', {
    headers: { 'content-type': 'application/json' },
    payload: `{"email":"${email}","password":"${WRONG_PASSWORD}"`,
  });
  expect(broken.statusCode).toBe(400);
  const extra = await post('/auth/login', { payload: { email, password: WRONG_PASSWORD, x: 1 } });
  expect(extra.statusCode).toBe(400);

  const cookieLogin = await post('/auth/login', { payload: { email, password: PASSWORD } });
  expect(cookieLogin.statusCode).toBe(200);
  const cookieAccess = cookieLogin.json().access_token as string;
  const cookieToken = refreshCookie(cookieLogin) as string;
  secrets.push(cookieAccess, cookieToken);

  const bodyLogin = await post('/auth/login', { payload: { email, password: PASSWORD, refresh_in: 'body' } });
  expect(bodyLogin.statusCode).toBe(200);
  const bodyAccess = bodyLogin.json().access_token as string;
  const bodyToken = bodyLogin.json().refresh_token as string;
  secrets.push(bodyAccess, bodyToken);

  const cookieRefresh = await post('/auth/refresh', {
    cookies: { latchkey_refresh: cookieToken },
    headers: SAME_ORIGIN,
  });
  expect(cookieRefresh.statusCode).toBe(200);
  const rotatedCookie = refreshCookie(cookieRefresh) as string;
  secrets.push(rotatedCookie, cookieRefresh.json().access_token);
  // A refused cookie request and a refused body token are logged too.
  const csrf = await post('/auth/refresh', { cookies: { latchkey_refresh: rotatedCookie } });
  expect(csrf.statusCode).toBe(403);

  const bodyRefresh = await post('/auth/refresh', { payload: { refresh_token: bodyToken } });
  expect(bodyRefresh.statusCode).toBe(200);
  const rotatedBody = bodyRefresh.json().refresh_token as string;
  const access = bodyRefresh.json().access_token as string;
  secrets.push(rotatedBody, access);
  expect((await post('/auth/refresh', { payload: { refresh_token: cookieAccess } })).statusCode).toBe(401);

  const authorization = { authorization: `Bearer ${access}` };
  expect((await app.inject({ url: '/api/me', headers: authorization })).statusCode).toBe(200);
  expect(
    (await app.inject({ url: '/api/me', headers: { authorization: `Bearer ${access}x` } })).statusCode,
  ).toBe(401);
  expect((await app.inject({ url: '/auth/sessions', headers: authorization })).statusCode).toBe(200);

  const wrongChange = await post('/auth/password', {
    headers: authorization,
    payload: { current_password: WRONG_PASSWORD, new_password: NEW_PASSWORD },
  });
  expect(wrongChange.statusCode).toBe(403);
  const change = await post('/auth/password', {
    headers: authorization,
    payload: { current_password: PASSWORD, new_password: NEW_PASSWORD },
  });
  expect(change.statusCode).toBe(204);

  const relogin = await post('/auth/login', {
    payload: { email, password: NEW_PASSWORD, refresh_in: 'body' },
  });
  expect(relogin.statusCode).toBe(200);
  secrets.push(relogin.json().access_token, relogin.json().refresh_token);
  const third = await post('/auth/login', { payload: { email, password: NEW_PASSWORD } });
  secrets.push(third.json().access_token, refreshCookie(third) as string);

  const logouts = [
    await post('/auth/logout', {
      cookies: { latchkey_refresh: refreshCookie(third) as string },
      headers: SAME_ORIGIN,
    }),
    await post('/auth/logout', { payload: { refresh_token: relogin.json().refresh_token } }),
    await post('/auth/logout', { headers: authorization }),
  ];
  for (const res of logouts) expect(res.statusCode).toBe(204);
  expect((await app.inject({ url: '/api/me', headers: authorization })).statusCode).toBe(401);
  expect(secrets).toHaveLength(15);
  return secrets;
}

function expectNoSecrets(log: string, secrets: string[]): void {
  for (const secret of secrets) {
    expect(typeof secret).toBe('string');
    expect(log.includes(secret), `a secret of ${secret.length} characters is in the log`).toBe(false);
    // Parts of a token are secrets too: the signature, and the random part of a refresh token.
    const signature = secret.split('.')[2];
    if (signature !== undefined) expect(log.includes(signature)).toBe(false);
    if (secret.startsWith('lk_rt_')) expect(log.includes(secret.slice('lk_rt_'.length))).toBe(false);
  }
  expect(log).not.toMatch(/\$argon2id\$/);
  expect(log).not.toMatch(/lk_rt_[A-Za-z0-9_-]{20}/);
  expect(log).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.eyJ/);
}

describe('logs', () => {
  it('carry no secret at level trace with the production redaction', async () => {
    const { text, secrets } = await logOfAccountLife({});
    // The log really was written: one access line per request, the refusals, the auth events.
    expect(text).toContain('"path":"/auth/refresh","route":"/auth/refresh","status":200');
    expect(text).toContain('request refused');
    expect(text).toContain('"event":"login_succeeded"');
    expect(text).toContain('"event":"sessions_revoked"');
    expect(text).not.toContain('incoming request');
    expectNoSecrets(text, secrets);
  });

  it('carry no secret even with serializers that would log every header', async () => {
    const { text, secrets } = await logOfAccountLife({ serializers: VERBOSE_SERIALIZERS });
    expectNoSecrets(text, secrets);
  });

  it('redact the headers of a request or response object a log call is handed', async () => {
    const log = captureLog();
    // Serializers that pass the objects through whole, headers included.
    const whole = { req: (value: object) => ({ ...value }), res: (value: object) => ({ ...value }) };
    const app = await buildApp(testConfig(), {
      logger: { level: 'info', stream: log.stream, redact: REDACT, serializers: whole },
      argon2: FAST_ARGON2,
      background: false,
    });
    try {
      app.log.info(
        {
          req: { headers: { authorization: 'Bearer h-secret-1', cookie: 'latchkey_refresh=h-secret-2' } },
          res: { headers: { 'set-cookie': 'latchkey_refresh=h-secret-3' } },
        },
        'a careless log call',
      );
      const text = log.text();
      expect(text).toContain('"authorization":"[redacted]"');
      expect(text).toContain('"cookie":"[redacted]"');
      expect(text).toContain('"set-cookie":"[redacted]"');
      expect(text).not.toContain('h-secret');
    } finally {
      await app.close();
    }
  });

  it('write one access line per request at its configured level, and none below the log level', async () => {
    const lines = async (env: Record<string, string>) => {
      const log = captureLog();
      const app = await buildApp(testConfig(env), {
        logger: { stream: log.stream },
        argon2: FAST_ARGON2,
        background: false,
      });
      try {
        await app.inject({ url: '/healthz' });
        await app.inject({ url: '/.well-known/latchkey-revocations?since=1&token=q-secret' });
        await app.inject({ url: '/api/nope', headers: { accept: 'application/json' } });
      } finally {
        await app.close();
      }
      return log
        .text()
        .split('\n')
        .filter((line) => line.includes('"msg":"request"'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    };
    // The defaults: LOG_LEVEL info, access lines at debug, so none.
    expect(await lines({})).toEqual([]);
    expect(await lines({ LOG_LEVEL: 'debug' })).toHaveLength(3);
    expect(await lines({ LATCHKEY_ACCESS_LOG_LEVEL: 'off', LOG_LEVEL: 'trace' })).toEqual([]);
    const info = await lines({ LATCHKEY_ACCESS_LOG_LEVEL: 'info' });
    expect(info).toHaveLength(3);
    expect(info[0]).toMatchObject({
      level: 30,
      method: 'GET',
      path: '/healthz',
      route: '/healthz',
      status: 200,
    });
    expect(typeof info[0]?.ms).toBe('number');
    expect(typeof info[0]?.reqId).toBe('string');
    // The query is never logged: a careless client may have put a token there.
    expect(info[1]).toMatchObject({ path: '/.well-known/latchkey-revocations' });
    expect(JSON.stringify(info)).not.toContain('q-secret');
    expect(info[2]).toMatchObject({ path: '/api/nope', route: null, status: 404 });
  });

  it('keep only the path of a request target: no query, fragment, or the origin of an absolute form', () => {
    expect(loggablePath('/api/me')).toBe('/api/me');
    expect(loggablePath('/api/me?access_token=SECRET')).toBe('/api/me');
    expect(loggablePath('/api/me#access_token=SECRET')).toBe('/api/me');
    expect(loggablePath('/api/me#a?b=SECRET')).toBe('/api/me');
    expect(loggablePath('http://u:SECRET@127.0.0.1:3000/api/me?x=1')).toBe('/api/me');
    expect(loggablePath('https://u:SECRET@example.com')).toBe('/');
    expect(loggablePath('*')).toBe('*');
  });

  it('record a refresh-token reuse as a security event, with ids and without the token', async () => {
    const log = captureLog();
    let time = Date.now();
    const app = await buildApp(testConfig(), {
      logger: { level: 'info', stream: log.stream, redact: REDACT },
      argon2: FAST_ARGON2,
      background: false,
      now: () => time,
    });
    try {
      const email = 'reuse@example.com';
      await app.inject({ method: 'POST', url: '/auth/register', payload: { email, password: PASSWORD } });
      const login = await app.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email, password: PASSWORD, refresh_in: 'body' },
      });
      const stolen = login.json().refresh_token as string;
      const sid = decodeUnverified(login.json().access_token).payload.sid as string;
      await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: stolen } });
      time += 60_000;
      const reuse = await app.inject({
        method: 'POST',
        url: '/auth/refresh',
        payload: { refresh_token: stolen },
      });
      expect(reuse.statusCode).toBe(401);
      const events = log
        .text()
        .split('\n')
        .filter((line) => line.includes('refresh token reuse'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ level: 40, event: 'refresh_reuse_detected', sid });
      expectNoSecrets(log.text(), [stolen, login.json().access_token, PASSWORD]);
    } finally {
      await app.close();
    }
  });

  it('redact credential fields of any object a log call is handed', async () => {
    const log = captureLog();
    const app = await buildApp(testConfig(), {
      logger: { level: 'trace', stream: log.stream, redact: REDACT },
      argon2: FAST_ARGON2,
      background: false,
    });
    try {
      const body = {
        password: 'p-secret-1',
        current_password: 'p-secret-2',
        new_password: 'p-secret-3',
        refresh_token: 'p-secret-4',
        access_token: 'p-secret-5',
        token: 'p-secret-6',
      };
      app.log.info({ body }, 'a careless log call');
      const text = log.text();
      expect(text).toContain('a careless log call');
      for (const secret of Object.values(body)) expect(text).not.toContain(secret);
    } finally {
      await app.close();
    }
  });
});
