/**
 * The store that publishes what it changes: it still behaves as a store in every way (the conformance
 * suite through it), and each write tells exactly what that call changed, no more. The messages are
 * recorded where Redis would take them; test/cli/fan-out.test.ts and test/server/shared-limits.test.ts
 * carry them over a real Redis.
 */
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory.js';
import type { FanOutMessage, FanOutPublisher } from '../../src/store/redis/fan-out.js';
import { publishingChanges } from '../../src/store/redis/publishing-store.js';
import type { SigningKeyRecord, Store } from '../../src/store/types.js';
import { recordFailure } from '../support/counters.js';
import { describeStoreConformance, newSession } from './conformance.js';

const T0 = 1_700_000_000_000;

describeStoreConformance('publishing (memory)', async () =>
  publishingChanges(new MemoryStore(), { publish: async () => {} }),
);

interface Published {
  store: Store;
  messages: FanOutMessage[];
}

/** A store with user u1 and live sessions s1, s2 (refresh tokens rt-1, rt-2), publishing to a list. */
async function publishing(): Promise<Published> {
  const messages: FanOutMessage[] = [];
  const publisher: FanOutPublisher = {
    publish: async (message) => {
      messages.push(message);
    },
  };
  const store = publishingChanges(new MemoryStore(), publisher);
  await store.createUser({ id: 'u1', email: 'u1@example.com', passwordHash: 'h1', createdAt: T0 });
  await store.createSession(newSession('s1'), 'rt-1');
  await store.createSession(newSession('s2'), 'rt-2');
  return { store, messages };
}

const revoked = (at: number, ...ids: string[]): FanOutMessage => ({
  type: 'sessions-revoked',
  sessions: ids.map((id) => ({ id, revokedAt: at })),
});

function signingKey(kid: string): SigningKeyRecord {
  return {
    kid,
    alg: 'ES256',
    publicJwk: '{}',
    privateKey: 'not a key',
    createdAt: T0,
    activatesAt: T0,
    retiresAt: T0 + 1000,
    expiresAt: T0 + 2000,
    revokedAt: null,
  };
}

describe('publishingChanges', () => {
  it('tells a session revoked by revokeSession, once: revoking it again tells nothing', async () => {
    const { store, messages } = await publishing();
    await store.revokeSession('s1', T0 + 1, 'logout');
    await store.revokeSession('s1', T0 + 2, 'logout');
    await store.revokeSession('nope', T0 + 3, 'logout');
    expect(messages).toEqual([revoked(T0 + 1, 's1')]);
  });

  it('tells the sessions revokeUserSessions ended, and nothing when there were none', async () => {
    const { store, messages } = await publishing();
    await store.revokeUserSessions('u1', T0 + 1, 'logout_all', 's2');
    await store.revokeUserSessions('u1', T0 + 2, 'logout_all', 's2');
    await store.revokeUserSessions('u1', T0 + 3, 'logout_all');
    expect(messages).toEqual([revoked(T0 + 1, 's1'), revoked(T0 + 3, 's2')]);
  });

  it('tells the sessions a password change ended, and nothing when the change did not apply', async () => {
    const { store, messages } = await publishing();
    expect(await store.changePassword('u1', 'stale', 'h2', 's2', T0 + 1, 'password_changed')).toBeNull();
    expect(await store.changePassword('u1', 'h1', 'h2', 's2', T0 + 2, 'password_changed')).toEqual(['s1']);
    expect(messages).toEqual([revoked(T0 + 2, 's1')]);
  });

  it('tells the sessions a login ended to stay within the limit, and nothing when it ended none', async () => {
    const { store, messages } = await publishing();
    const login = (id: string, most: number, hash = 'h1') =>
      store.createLoginSession(newSession(id, { createdAt: T0 + 5, lastUsedAt: T0 + 5 }), `rt-${id}`, hash, {
        most,
        reason: 'session_limit',
      });
    expect(await login('s3', 3)).toMatchObject({ ended: [] });
    expect(await login('s4', 3, 'stale')).toBeNull();
    const ended = await login('s5', 2);
    expect([...(ended?.ended ?? [])].sort()).toEqual(['s1', 's2']);
    expect(messages).toEqual([
      { type: 'sessions-revoked', sessions: ended?.ended.map((id) => ({ id, revokedAt: T0 + 5 })) },
    ]);
  });

  it('tells a family revoked by consumeRefreshToken only when that call revoked it', async () => {
    const { store, messages } = await publishing();
    const decide = (now: number) => () => ({ action: 'revoke' as const, now, reason: 'refresh_reuse' });
    expect(await store.consumeRefreshToken('rt-1', decide(T0 + 1))).toMatchObject({ action: 'revoke' });
    // The same outcome again, for a session revoked before: its first revocation stands.
    expect(await store.consumeRefreshToken('rt-1', decide(T0 + 2))).toMatchObject({ action: 'revoke' });
    expect(await store.consumeRefreshToken('rt-unknown', decide(T0 + 3))).toBeNull();
    const rotate = { action: 'rotate' as const, successorHash: 'rt-3', now: T0 + 4, idleExpiresAt: T0 + 9 };
    expect(await store.consumeRefreshToken('rt-2', () => rotate)).toMatchObject({ action: 'rotate' });
    expect(messages).toEqual([revoked(T0 + 1, 's1')]);
  });

  it('tells nothing for writes that end no session and change no key', async () => {
    const { store, messages } = await publishing();
    await store.setUserDisabled('u1', T0 + 1);
    await store.addUserRole('u1', 'admin');
    await recordFailure(store, 'k', 1000, T0);
    await store.ensureSecret('s', 'v');
    expect(messages).toEqual([]);
  });

  it('publishes once the write is done: whoever reads the store on the message finds the change', async () => {
    const inner = new MemoryStore();
    const seen: (number | null | undefined)[] = [];
    const store = publishingChanges(inner, {
      publish: async () => {
        seen.push((await inner.findSession('s1'))?.revokedAt, (await inner.listSigningKeys()).length);
      },
    });
    await store.createSession(newSession('s1'), 'rt-1');
    await store.revokeSession('s1', T0 + 1, 'logout');
    await store.insertSigningKey(signingKey('k1'));
    expect(seen).toEqual([T0 + 1, 0, T0 + 1, 1]);
  });

  it('tells every change of the signing keys, and nothing for a write that changed none', async () => {
    const { store, messages } = await publishing();
    expect(await store.insertSigningKey(signingKey('k1'))).toBe(true);
    expect(await store.insertSigningKey(signingKey('k1'))).toBe(false);
    expect(await store.revokeSigningKey('k1', T0 + 1, signingKey('k2'))).toBe(true);
    expect(await store.revokeSigningKey('k1', T0 + 2, null)).toBe(false);
    expect(await store.deleteSigningKeys(['k1'])).toBe(1);
    expect(await store.deleteSigningKeys(['k1'])).toBe(0);
    expect(messages).toEqual([{ type: 'keys-changed' }, { type: 'keys-changed' }, { type: 'keys-changed' }]);
  });
});
