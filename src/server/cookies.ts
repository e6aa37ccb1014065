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
