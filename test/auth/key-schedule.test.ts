import { describe, expect, it } from 'vitest';
import { scheduleSigningKeys } from '../../src/auth/key-schedule.js';
import type { SigningKeyRecord } from '../../src/store/types.js';

const DAY = 86_400_000;
const T0 = 1_800_000_000_000;
const RETENTION = 930_000;

function key(kid: string, activatesAt: number, overrides: Partial<SigningKeyRecord> = {}): SigningKeyRecord {
  return {
    kid,
    alg: 'ES256',
    publicJwk: '{}',
    privateKey: '',
    createdAt: T0,
    activatesAt,
    retiresAt: activatesAt + 30 * DAY,
    expiresAt: activatesAt + 30 * DAY + RETENTION,
    revokedAt: null,
    ...overrides,
  };
}

const summary = (records: SigningKeyRecord[], now: number) =>
  scheduleSigningKeys(records, now, RETENTION).map(({ record, state, retiresAt, expiresAt }) => ({
    kid: record.kid,
    state,
    retiresAt,
    expiresAt,
  }));

describe('scheduleSigningKeys', () => {
  it('keeps the planned times of a key nothing replaced', () => {
    expect(summary([key('a', T0)], T0 + 1)).toEqual([
      { kid: 'a', state: 'active', retiresAt: T0 + 30 * DAY, expiresAt: T0 + 30 * DAY + RETENTION },
    ]);
  });

  it('retires a key when a newer one activates, and publishes it only for the retention after that', () => {
    const records = [key('a', T0), key('b', T0 + DAY, { createdAt: T0 + DAY })];
    expect(summary(records, T0 + DAY - 1).map(({ state }) => state)).toEqual(['active', 'next']);
    expect(summary(records, T0 + DAY)).toEqual([
      { kid: 'a', state: 'retired', retiresAt: T0 + DAY, expiresAt: T0 + DAY + RETENTION },
      { kid: 'b', state: 'active', retiresAt: T0 + 31 * DAY, expiresAt: T0 + 31 * DAY + RETENTION },
    ]);
  });

  it('hands a tie in activation time to the newer key, then to the greater kid', () => {
    const tie = [key('a', T0), key('b', T0, { createdAt: T0 + 1 })];
    expect(summary(tie, T0).map(({ state }) => state)).toEqual(['retired', 'active']);
    const sameMoment = [key('z', T0), key('y', T0)];
    expect(summary(sameMoment, T0).map(({ kid, state }) => [kid, state])).toEqual([
      ['z', 'active'],
      ['y', 'retired'],
    ]);
  });

  it('never publishes a revoked key, and no older key signs again after it', () => {
    const records = [key('a', T0), key('b', T0 + DAY, { revokedAt: T0 + 2 * DAY })];
    expect(summary(records, T0 + 2 * DAY)).toEqual([
      { kid: 'a', state: 'retired', retiresAt: T0 + DAY, expiresAt: T0 + DAY + RETENTION },
      { kid: 'b', state: 'revoked', retiresAt: T0 + 2 * DAY, expiresAt: T0 + 2 * DAY + RETENTION },
    ]);
  });

  it('lets the signing key go on when the next key is revoked before it activates', () => {
    const records = [key('a', T0), key('b', T0 + 30 * DAY, { revokedAt: T0 + DAY })];
    const [a, b] = summary(records, T0 + 30 * DAY - 1);
    expect(a).toMatchObject({ state: 'active', retiresAt: T0 + 30 * DAY });
    expect(b).toMatchObject({ state: 'revoked' });
  });

  it('never publishes longer than the stored expiry', () => {
    const records = [key('a', T0, { expiresAt: T0 + DAY })];
    expect(summary(records, T0)[0]).toMatchObject({ retiresAt: T0 + 30 * DAY, expiresAt: T0 + DAY });
  });
});
