/**
 * Refresh tokens: 256 random bits, base64url, prefixed `lk_rt_` so that secret scanners recognise a
 * leaked one. Only their SHA-256 hash is stored. A successor is derived from its predecessor with a
 * server-side secret, so that a repeated use inside the grace window can be answered with the same
 * successor without ever storing a token.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';

export const REFRESH_TOKEN_PREFIX = 'lk_rt_';
const SHAPE = /^lk_rt_[A-Za-z0-9_-]{43}$/;

export function generateRefreshToken(): string {
  return REFRESH_TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/** True for text that can be a refresh token; anything else is refused before any lookup. */
export function isRefreshTokenShape(token: string): boolean {
  return SHAPE.test(token);
}

export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/**
 * The successor of `token`: HMAC-SHA-256 under the server's refresh secret. Without the secret, a
 * stolen old token says nothing about its successor.
 */
export function deriveSuccessor(secret: Uint8Array, token: string): string {
  return REFRESH_TOKEN_PREFIX + createHmac('sha256', secret).update(token).digest('base64url');
}
