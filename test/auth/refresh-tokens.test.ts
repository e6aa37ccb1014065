import { describe, expect, it } from 'vitest';
import {
  deriveSuccessor,
  generateRefreshToken,
  hashRefreshToken,
  isRefreshTokenShape,
} from '../../src/auth/refresh-tokens.js';

describe('refresh tokens', () => {
  it('are lk_rt_ plus 256 random bits in base64url, different every time', () => {
    const tokens = new Set(Array.from({ length: 100 }, generateRefreshToken));
    expect(tokens.size).toBe(100);
    for (const token of tokens) {
      expect(token).toMatch(/^lk_rt_[A-Za-z0-9_-]{43}$/);
      expect(isRefreshTokenShape(token)).toBe(true);
      expect(Buffer.from(token.slice(6), 'base64url')).toHaveLength(32);
    }
  });

  it('refuses anything of another shape, access tokens included', () => {
    for (const text of [
      '',
      'lk_rt_',
      `lk_rt_${'A'.repeat(42)}`,
      `lk_rt_${'A'.repeat(44)}`,
      `xx_rt_${'A'.repeat(43)}`,
      'eyJ.eyJ.sig',
    ]) {
      expect(isRefreshTokenShape(text)).toBe(false);
    }
  });

  it('are stored as SHA-256, never as themselves', () => {
    const token = generateRefreshToken();
    const hash = hashRefreshToken(token);
    expect(hash).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(hash).not.toContain(token.slice(6));
    expect(hashRefreshToken(token)).toBe(hash);
  });

  it('derive one successor per token and secret, itself a well-formed token', () => {
    const secret = Buffer.alloc(32, 1);
    const token = generateRefreshToken();
    const successor = deriveSuccessor(secret, token);
    expect(isRefreshTokenShape(successor)).toBe(true);
    expect(deriveSuccessor(secret, token)).toBe(successor);
    expect(deriveSuccessor(Buffer.alloc(32, 2), token)).not.toBe(successor);
    expect(deriveSuccessor(secret, generateRefreshToken())).not.toBe(successor);
  });
});
