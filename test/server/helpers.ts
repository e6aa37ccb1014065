/**
 * Helpers of the HTTP contract tests: users, logins and the error-shape assertion. Every request goes
 * through `app.inject`, so the real routes, schemas, hooks and error handler run.
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { decodeUnverified } from '../../src/jwt/index.js';
import type { BuildAppOptions } from '../../src/server/app.js';
import { createTestApp } from '../support/app.js';

export type Response = LightMyRequestResponse;

export const PASSWORD = 'correct horse battery';
export const REFRESH_TOKEN_SHAPE = /^lk_rt_[A-Za-z0-9_-]{43}$/;
export const INVALID_TOKEN_MESSAGE = 'the access token is invalid, expired or revoked';
export const MISSING_TOKEN_MESSAGE = 'this route needs a Bearer access token';
export const INVALID_GRANT_MESSAGE = 'refresh token is invalid, expired or revoked';
export const BARE_CHALLENGE = 'Bearer realm="latchkey"';

const opened: FastifyInstance[] = [];

/** A test app that is closed after the test that made it. */
export async function makeApp(
  env: Record<string, string> = {},
  options: BuildAppOptions = {},
): Promise<FastifyInstance> {
  const app = await createTestApp(env, options);
  opened.push(app);
  return app;
}

/** For `afterEach`: closes every app `makeApp` made. */
export async function closeApps(): Promise<void> {
  const apps = opened.splice(0);
  await Promise.all(apps.map((app) => app.close()));
}

/** A clock for the `now` build option: starts at the real time and moves only when told. */
export function createClock(start = Date.now()) {
  let time = start;
  return {
    now: () => time,
    advance(ms: number) {
      time += ms;
    },
  };
}

let ipCounter = 0;

/** A fresh client address, so per-IP limits of one test never touch another. */
export function nextIp(): string {
  ipCounter += 1;
  return `10.${(ipCounter >> 16) & 255}.${(ipCounter >> 8) & 255}.${ipCounter & 255}`;
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

let emailCounter = 0;

export function uniqueEmail(name = 'user'): string {
  emailCounter += 1;
  return `${name}${emailCounter}@example.com`;
}

export interface TestUser {
  id: string;
  email: string;
  password: string;
}

export async function registerUser(
  app: FastifyInstance,
  email = uniqueEmail(),
  password = PASSWORD,
): Promise<TestUser> {
  const res = await app.inject({
    method: 'POST',
    url: '/auth/register',
    payload: { email, password },
    remoteAddress: nextIp(),
  });
  expect(res.statusCode, res.body).toBe(201);
  const { user } = res.json() as { user: { id: string; email: string } };
  return { id: user.id, email: user.email, password };
}

export interface LoginResult {
  res: Response;
  accessToken: string;
  /** From the body in body mode, from the cookie otherwise. */
  refreshToken: string;
  sessionId: string;
}

export interface LoginOptions {
  password?: string;
  mode?: 'cookie' | 'body';
  remoteAddress?: string;
  headers?: Record<string, string>;
}

export function refreshCookie(res: Response): string | undefined {
  return res.cookies.find((cookie) => cookie.name === 'latchkey_refresh')?.value;
}

export function sessionIdOf(accessToken: string): string {
  return decodeUnverified(accessToken).payload.sid as string;
}

export async function login(
  app: FastifyInstance,
  user: { email: string; password: string },
  options: LoginOptions = {},
): Promise<LoginResult> {
  const mode = options.mode ?? 'body';
  const res = await app.inject({
    method: 'POST',
    url: '/auth/login',
    payload: { email: user.email, password: options.password ?? user.password, refresh_in: mode },
    ...(options.remoteAddress === undefined ? {} : { remoteAddress: options.remoteAddress }),
    ...(options.headers === undefined ? {} : { headers: options.headers }),
  });
  expect(res.statusCode, res.body).toBe(200);
  const body = res.json() as { access_token: string; refresh_token?: string };
  const refreshToken = mode === 'body' ? body.refresh_token : refreshCookie(res);
  if (refreshToken === undefined) throw new Error('login returned no refresh token');
  return { res, accessToken: body.access_token, refreshToken, sessionId: sessionIdOf(body.access_token) };
}

export function me(app: FastifyInstance, accessToken: string): Promise<Response> {
  return app.inject({ method: 'GET', url: '/api/me', headers: bearer(accessToken) });
}

export function refreshByBody(app: FastifyInstance, refreshToken: string): Promise<Response> {
  return app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: refreshToken } });
}

/** The contract's error shape: exactly `{error, message}`, JSON, with the given status and code. */
export function expectProblem(res: Response, status: number, error: string, message?: string | RegExp): void {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  const body = res.json() as Record<string, unknown>;
  expect(Object.keys(body).sort()).toEqual(['error', 'message']);
  expect(body.error).toBe(error);
  expect(typeof body.message).toBe('string');
  if (typeof message === 'string') expect(body.message).toBe(message);
  else if (message !== undefined) expect(body.message).toMatch(message);
}

/** 401 invalid_token with its RFC 6750 challenge. */
export function expectInvalidToken(res: Response): void {
  expectProblem(res, 401, 'invalid_token', INVALID_TOKEN_MESSAGE);
  const challenge = res.headers['www-authenticate'];
  expect(typeof challenge).toBe('string');
  expect(challenge as string).toMatch(/^Bearer realm="latchkey"/);
  expect(challenge as string).toContain('error="invalid_token"');
}

export function expectInvalidGrant(res: Response): void {
  expectProblem(res, 401, 'invalid_grant', INVALID_GRANT_MESSAGE);
}
