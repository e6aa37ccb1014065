/** The refresh-token cookie, exactly as DESIGN fixes it: HttpOnly, SameSite=Strict, Path=/auth. */
import type { CookieSerializeOptions } from '@fastify/cookie';

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
