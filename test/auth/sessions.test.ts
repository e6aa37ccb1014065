import { describe, expect, it } from 'vitest';
import { decideRefresh } from '../../src/auth/sessions.js';
import type { RefreshTokenState } from '../../src/store/types.js';

const NOW = 1_800_000_000_000;
const policy = { idleTtlMs: 7 * 86_400_000, graceMs: 10_000 };

function state(
  token: Partial<RefreshTokenState['token']> = {},
  session: Partial<RefreshTokenState['session']> = {},
) {
  return {
    token: {
      hash: 'h',
      sessionId: 's',
      createdAt: NOW - 1000,
      rotatedAt: null,
      successorHash: null,
      ...token,
    },
    session: {
      id: 's',
      userId: 'u',
      createdAt: NOW - 86_400_000,
      lastUsedAt: NOW - 1000,
      expiresAt: NOW + 29 * 86_400_000,
      idleExpiresAt: NOW + 86_400_000,
      userAgent: null,
      ip: null,
      revokedAt: null,
      revokedReason: null,
      ...session,
    },
  };
}

describe('decideRefresh', () => {
  it('rotates a current token and moves the idle end, never past the absolute end', () => {
    expect(decideRefresh(state(), NOW, policy, 'next')).toEqual({
      action: 'rotate',
      successorHash: 'next',
      now: NOW,
      idleExpiresAt: NOW + policy.idleTtlMs,
    });
    const nearEnd = state({}, { expiresAt: NOW + 1000 });
    expect(decideRefresh(nearEnd, NOW, policy, 'next')).toMatchObject({ idleExpiresAt: NOW + 1000 });
  });

  it('repeats inside the grace window, up to and including its last millisecond', () => {
    expect(decideRefresh(state({ rotatedAt: NOW - 10_000 }), NOW, policy, 'next')).toEqual({
      action: 'repeat',
    });
  });

  it('revokes the family for a rotated token used after the grace window', () => {
    expect(decideRefresh(state({ rotatedAt: NOW - 10_001 }), NOW, policy, 'next')).toEqual({
      action: 'revoke',
      now: NOW,
      reason: 'refresh_token_reuse',
    });
  });

  it.each([
    ['a revoked session', state({}, { revokedAt: NOW - 5 })],
    ['a revoked session even inside the grace window', state({ rotatedAt: NOW - 1 }, { revokedAt: NOW - 5 })],
    ['an absolutely expired session', state({}, { expiresAt: NOW })],
    ['an idle-expired session', state({}, { idleExpiresAt: NOW })],
  ])('rejects %s without changing anything', (_, input) => {
    expect(decideRefresh(input, NOW, policy, 'next')).toEqual({ action: 'reject' });
  });
});
