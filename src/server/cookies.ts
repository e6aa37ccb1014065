/** The refresh-token cookie, exactly as DESIGN fixes it: HttpOnly, SameSite=Strict, Path=/auth. */
import type { CookieSerializeOptions } from '@fastify/cookie';
import type { FastifyReply } from 'fastify';
import type { ResponseHeaders } from './schemas.js';

export const REFRESH_COOKIE = 'latchkey_refresh';

export function refreshCookieOptions(secure: boolean, maxAgeSeconds: number): CookieSerializeOptions {
  return {
    httpOnly: true,
    sameSite: 'strict',
    path: '/auth',
    secure,
    maxAge: Math.max(0, Math.floor(maxAgeSeconds)),
  };
}

/**
 * The attributes Set-Cookie gives the cookie (Max-Age and Expires aside), as the API description
 * states them; test/server/openapi.test.ts holds them to what the server sends.
 */
export function refreshCookieAttributes(secure: boolean): string {
  return `Path=/auth; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

/** Deletes the refresh cookie in the browser that gets `reply`. */
export function clearRefreshCookie(reply: FastifyReply, secure: boolean): void {
  reply.clearCookie(REFRESH_COOKIE, refreshCookieOptions(secure, 0));
}

/** The API description of the Set-Cookie that `clearRefreshCookie` sends, and `when` it does. */
export function clearedRefreshCookieHeader(secure: boolean, when: string): ResponseHeaders {
  return {
    'Set-Cookie': {
      type: 'string',
      description:
        `${when}: \`${REFRESH_COOKIE}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; ` +
        `${refreshCookieAttributes(secure)}\`, which deletes the cookie.`,
    },
  };
}
