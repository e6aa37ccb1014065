/**
 * The suite every store passes (memory, SQLite, PostgreSQL): the Store contract in executable form, in
 * one section per part, so that a part implemented on its own (counters in Redis) runs its section
 * alone. Every time is explicit, so nothing sleeps and no clock is faked.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreError } from '../../src/errors.js';
import type {
  CounterStore,
  KeyStore,
  NewSession,
  NewUser,
  RefreshDecision,
  RefreshTokenState,
  SessionRecord,
  SessionStore,
  SigningKeyRecord,
  Store,
  UserStore,
} from '../../src/store/types.js';
import { readCounter, recordFailure } from '../support/counters.js';

const T0 = 1_700_000_000_000;
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

const reject = (): RefreshDecision => ({ action: 'reject' });

function newUser(id: string, overrides: Partial<NewUser> = {}): NewUser {
  return {
    id,
    email: `${id}@example.com`,
    passwordHash: `$argon2id$v=19$${id}`,
    createdAt: T0,
    ...overrides,
  };
}

/** A session of user u1 created at T0, with `overrides` on top. */
export function newSession(id: string, overrides: Partial<NewSession> = {}): NewSession {
  return {
    id,
    userId: 'u1',
    createdAt: T0,
    lastUsedAt: T0,
    expiresAt: T0 + 30 * DAY,
    idleExpiresAt: T0 + 7 * DAY,
    userAgent: 'Mozilla/5.0',
    ip: '203.0.113.7',
    ...overrides,
  };
}

function newSigningKey(kid: string, overrides: Partial<SigningKeyRecord> = {}): SigningKeyRecord {
  return {
    kid,
    alg: 'ES256',
    publicJwk: `{"kty":"EC","kid":"${kid}"}`,
    privateKey: `-----BEGIN PRIVATE KEY-----\n${kid}\n-----END PRIVATE KEY-----\n`,
    createdAt: T0,
    activatesAt: T0 + MINUTE,
    retiresAt: T0 + DAY,
    expiresAt: T0 + 2 * DAY,
    revokedAt: null,
    ...overrides,
  };
}

function rotateTo(successorHash: string, now: number, idleExpiresAt = now + 7 * DAY): RefreshDecision {
  return { action: 'rotate', successorHash, now, idleExpiresAt };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (error: unknown) => error,
  );
}

/** What a section asks of a store besides its part: to be closed after each test. */
interface Closable {
  close(): Promise<void>;
}

/** `revokedReason` the domain gives a password change (src/auth/session-end-reasons.ts). */
const CHANGED = 'password_changed';
const LIMITED = 'session_limit';
/** A limit no test's logins reach. */
const UNLIMITED = { most: 10_000, reason: LIMITED };

/** Users and their roles. A password change ending sessions is in the sessions section. */
export function describeUserStore(name: string, open: () => Promise<UserStore & Closable>): void {
  describe(`${name}: UserStore conformance`, () => {
    let store: UserStore & Closable;

    beforeEach(async () => {
      store = await open();
      await store.createUser(newUser('u1'));
    });

    afterEach(async () => {
      await store.close();
    });

    describe('users', () => {
      it('creates a user and finds it by email and by id', async () => {
        const created = await store.createUser(newUser('u2', { createdAt: T0 + 1 }));
        const expected = {
          id: 'u2',
          email: 'u2@example.com',
          passwordHash: '$argon2id$v=19$u2',
          createdAt: T0 + 1,
          disabledAt: null,
          roles: [],
        };
        expect(created).toEqual(expected);
        expect(await store.findUserByEmail('u2@example.com')).toEqual(expected);
        expect(await store.findUserById('u2')).toEqual(expected);
      });

      it('returns null for an unknown email or id', async () => {
        expect(await store.findUserByEmail('nobody@example.com')).toBeNull();
        expect(await store.findUserById('nobody')).toBeNull();
      });

      it('refuses a taken email with ERR_STORE_CONFLICT and keeps the first user', async () => {
        const error = await rejection(store.createUser(newUser('u2', { email: 'u1@example.com' })));
        expect(error).toBeInstanceOf(StoreError);
        expect(error).toMatchObject({ code: 'ERR_STORE_CONFLICT', message: 'email is taken' });
        expect(await store.findUserById('u2')).toBeNull();
        expect((await store.findUserByEmail('u1@example.com'))?.id).toBe('u1');
      });

      it('lists every user, oldest first', async () => {
        await store.createUser(newUser('u3', { createdAt: T0 + 2 }));
        await store.createUser(newUser('u2', { createdAt: T0 + 1 }));
        expect((await store.listUsers()).map((user) => user.id)).toEqual(['u1', 'u2', 'u3']);
      });

      it('rehashes a password only while the verified hash is still the stored one', async () => {
        expect(await store.rehashPassword('u1', '$argon2id$v=19$u1', '$argon2id$v=19$new')).toBe(true);
        expect((await store.findUserById('u1'))?.passwordHash).toBe('$argon2id$v=19$new');
        // A change committed after the check: the rehash of the old password must not undo it.
        await store.changePassword('u1', '$argon2id$v=19$new', '$argon2id$v=19$changed', null, T0, CHANGED);
        expect(await store.rehashPassword('u1', '$argon2id$v=19$new', '$argon2id$v=19$old-again')).toBe(
          false,
        );
        expect((await store.findUserById('u1'))?.passwordHash).toBe('$argon2id$v=19$changed');
        expect(await store.rehashPassword('nobody', '$argon2id$v=19$u1', '$argon2id$v=19$x')).toBe(false);
      });

      it('disables and enables a user, and says false for an unknown one', async () => {
        expect(await store.setUserDisabled('u1', T0 + 5)).toBe(true);
        expect((await store.findUserById('u1'))?.disabledAt).toBe(T0 + 5);
        expect(await store.setUserDisabled('u1', null)).toBe(true);
        expect((await store.findUserById('u1'))?.disabledAt).toBeNull();
        expect(await store.setUserDisabled('nobody', T0)).toBe(false);
      });
    });

    describe('roles', () => {
      it('adds roles and reads them with the user, in code-unit order, from every way of finding it', async () => {
        for (const role of ['viewer', 'Admin', 'billing:read', 'admin']) {
          expect(await store.addUserRole('u1', role)).toBe(true);
        }
        // Code-unit order: upper case before lower case, whatever the database's collation says.
        const roles = ['Admin', 'admin', 'billing:read', 'viewer'];
        expect((await store.findUserById('u1'))?.roles).toEqual(roles);
        expect((await store.findUserByEmail('u1@example.com'))?.roles).toEqual(roles);
        expect((await store.listUsers()).map((user) => user.roles)).toEqual([roles]);
      });

      it('adds a role once: a second add says false and keeps one copy', async () => {
        expect(await store.addUserRole('u1', 'admin')).toBe(true);
        expect(await store.addUserRole('u1', 'admin')).toBe(false);
        expect((await store.findUserById('u1'))?.roles).toEqual(['admin']);
      });

      it('removes a role once: a second remove, or one of a role never held, says false', async () => {
        await store.addUserRole('u1', 'admin');
        await store.addUserRole('u1', 'editor');
        expect(await store.removeUserRole('u1', 'admin')).toBe(true);
        expect(await store.removeUserRole('u1', 'admin')).toBe(false);
        expect(await store.removeUserRole('u1', 'never-had')).toBe(false);
        expect((await store.findUserById('u1'))?.roles).toEqual(['editor']);
        expect(await store.removeUserRole('u1', 'editor')).toBe(true);
        expect((await store.findUserById('u1'))?.roles).toEqual([]);
      });

      it('says null for an unknown user, and stores nothing for it', async () => {
        expect(await store.addUserRole('nobody', 'admin')).toBeNull();
        expect(await store.removeUserRole('nobody', 'admin')).toBeNull();
        // A user created later with that id starts without the role.
        expect((await store.createUser(newUser('nobody'))).roles).toEqual([]);
        expect((await store.findUserById('nobody'))?.roles).toEqual([]);
      });

      it("keeps one user's roles apart from another's, also in the list of users", async () => {
        await store.createUser(newUser('u2', { createdAt: T0 + 1 }));
        await store.createUser(newUser('u3', { createdAt: T0 + 2 }));
        await store.addUserRole('u1', 'admin');
        await store.addUserRole('u2', 'editor');
        await store.addUserRole('u2', 'admin');
        expect(await store.removeUserRole('u3', 'admin')).toBe(false);
        expect(await store.removeUserRole('u1', 'editor')).toBe(false);
        expect((await store.findUserById('u1'))?.roles).toEqual(['admin']);
        expect((await store.findUserById('u2'))?.roles).toEqual(['admin', 'editor']);
        expect((await store.findUserById('u3'))?.roles).toEqual([]);
        expect((await store.listUsers()).map((user) => [user.id, user.roles])).toEqual([
          ['u1', ['admin']],
          ['u2', ['admin', 'editor']],
          ['u3', []],
        ]);
      });

      it('keeps roles through disabling, enabling and password changes', async () => {
        await store.addUserRole('u1', 'admin');
        await store.setUserDisabled('u1', T0);
        await store.setUserDisabled('u1', null);
        await store.changePassword('u1', '$argon2id$v=19$u1', '$argon2id$v=19$new', null, T0, CHANGED);
        expect((await store.findUserById('u1'))?.roles).toEqual(['admin']);
      });

      it('loses no role to concurrency', async () => {
        const roles = Array.from({ length: 20 }, (_, i) => `role-${String(i).padStart(2, '0')}`);
        const added = await Promise.all([...roles, ...roles].map((role) => store.addUserRole('u1', role)));
        expect(added.filter((result) => result === true)).toHaveLength(20);
        expect((await store.findUserById('u1'))?.roles).toEqual(roles);
      });
    });

    describe('copies', () => {
      it('keeps stored users out of reach of what callers hold', async () => {
        const input = newUser('u2');
        const created = await store.createUser(input);
        input.email = 'changed@example.com';
        created.passwordHash = 'changed';
        const found = await store.findUserById('u2');
        if (found === null) return expect.fail('user u2 is missing');
        found.disabledAt = 1;
        (await store.listUsers()).forEach((user) => {
          user.email = 'changed@example.com';
        });
        expect(await store.findUserById('u2')).toEqual({ ...newUser('u2'), disabledAt: null, roles: [] });

        await store.addUserRole('u2', 'admin');
        const withRole = await store.findUserByEmail('u2@example.com');
        withRole?.roles.push('root');
        const [, second] = await store.listUsers();
        second?.roles.splice(0);
        expect((await store.findUserById('u2'))?.roles).toEqual(['admin']);
      });
    });
  });
}

/** Sessions, refresh-token families and the revocation feed; sessions belong to users, so it needs those too. */
export function describeSessionStore(
  name: string,
  open: () => Promise<UserStore & SessionStore & Closable>,
): void {
  describe(`${name}: SessionStore conformance`, () => {
    let store: UserStore & SessionStore & Closable;

    beforeEach(async () => {
      store = await open();
      await store.createUser(newUser('u1'));
    });

    afterEach(async () => {
      await store.close();
    });

    /** What the store holds for a refresh token, read without changing anything. */
    async function peekToken(hash: string): Promise<RefreshTokenState | null> {
      let seen: RefreshTokenState | null = null;
      await store.consumeRefreshToken(hash, (state) => {
        seen = state;
        return { action: 'reject' };
      });
      return seen;
    }

    describe('sessions', () => {
      it('creates a session together with its first refresh token', async () => {
        const created = await store.createSession(newSession('s1'), 'rt-1');
        const expected: SessionRecord = { ...newSession('s1'), revokedAt: null, revokedReason: null };
        expect(created).toEqual(expected);
        expect(await store.findSession('s1')).toEqual(expected);
        expect(await peekToken('rt-1')).toEqual({
          token: { hash: 'rt-1', sessionId: 's1', createdAt: T0, rotatedAt: null, successorHash: null },
          session: expected,
        });
      });

      it('creates a login session only while the verified hash is stored and the user enabled', async () => {
        const expected: SessionRecord = { ...newSession('s1'), revokedAt: null, revokedReason: null };
        expect(
          await store.createLoginSession(newSession('s1'), 'rt-1', '$argon2id$v=19$u1', UNLIMITED),
        ).toEqual({ session: expected, ended: [] });
        expect(await store.findSession('s1')).toEqual(expected);
        // The password changed after the login checked it: no session, no token.
        await store.changePassword('u1', '$argon2id$v=19$u1', '$argon2id$v=19$changed', null, T0, CHANGED);
        expect(
          await store.createLoginSession(newSession('s2'), 'rt-2', '$argon2id$v=19$u1', UNLIMITED),
        ).toBeNull();
        expect(await store.findSession('s2')).toBeNull();
        expect(await peekToken('rt-2')).toBeNull();
        // Disabled after the check: the same.
        await store.setUserDisabled('u1', T0);
        expect(
          await store.createLoginSession(newSession('s3'), 'rt-3', '$argon2id$v=19$changed', UNLIMITED),
        ).toBeNull();
        expect(await store.findSession('s3')).toBeNull();
        expect(
          await store.createLoginSession(
            newSession('s4', { userId: 'nobody' }),
            'rt-4',
            '$argon2id$v=19$u1',
            UNLIMITED,
          ),
        ).toBeNull();
      });

      it('ends the least recently used live sessions beyond the limit as a login begins its own', async () => {
        const HASH = '$argon2id$v=19$u1';
        const at = T0 + 10 * MINUTE;
        await store.createUser(newUser('u2', { createdAt: T0 }));
        const used = (id: string, minutes: number, overrides: Partial<NewSession> = {}) =>
          store.createSession(
            newSession(id, { lastUsedAt: T0 + minutes * MINUTE, ...overrides }),
            `rt-${id}`,
          );
        await used('a', 1);
        await used('b', 3);
        await used('c', 2);
        // Neither counts nor ends: a revoked one keeps its time, an expired one stays as it was.
        await used('revoked', 9);
        await store.revokeSession('revoked', T0 + 9 * MINUTE, CHANGED);
        await used('idle', 8, { idleExpiresAt: at - 1 });
        await used('other', 0, { userId: 'u2' });

        const login = (id: string, most: number, hash = HASH) =>
          store.createLoginSession(newSession(id, { createdAt: at, lastUsedAt: at }), `rt-${id}`, hash, {
            most,
            reason: LIMITED,
          });
        const first = await login('new', 3);
        expect(first).toEqual({
          session: {
            ...newSession('new', { createdAt: at, lastUsedAt: at }),
            revokedAt: null,
            revokedReason: null,
          },
          ended: ['a'],
        });
        expect(await store.findSession('a')).toMatchObject({ revokedAt: at, revokedReason: LIMITED });
        expect((await store.listActiveSessions('u1', at)).map(({ id }) => id)).toEqual(['new', 'c', 'b']);
        expect(await store.findSession('revoked')).toMatchObject({
          revokedAt: T0 + 9 * MINUTE,
          revokedReason: CHANGED,
        });
        expect(await store.findSession('idle')).toMatchObject({ revokedAt: null });
        expect(await store.findSession('other')).toMatchObject({ revokedAt: null });
        // The feed tells every instance and verifier, as of any revocation.
        expect(await store.listRevokedSessionsSince(at)).toEqual([{ id: 'a', revokedAt: at }]);

        // A login refused for a changed password ends nothing.
        expect(await login('refused', 1, '$argon2id$v=19$stale')).toBeNull();
        expect(await store.listActiveSessions('u1', at)).toHaveLength(3);
        // A limit of one: the new session is the only one left.
        const only = await login('only', 1);
        expect(only?.ended.sort()).toEqual(['b', 'c', 'new']);
        expect((await store.listActiveSessions('u1', at)).map(({ id }) => id)).toEqual(['only']);
        expect(await store.findSession('other')).toMatchObject({ revokedAt: null });
      });

      it('ends a session only once the user has as many live sessions as the limit', async () => {
        const HASH = '$argon2id$v=19$u1';
        const login = (id: string, minutes: number) => {
          const at = T0 + minutes * MINUTE;
          return store.createLoginSession(
            newSession(id, { createdAt: at, lastUsedAt: at }),
            `rt-${id}`,
            HASH,
            {
              most: 3,
              reason: LIMITED,
            },
          );
        };
        // One fewer than the limit before each: nothing to end.
        expect((await login('a', 1))?.ended).toEqual([]);
        expect((await login('b', 2))?.ended).toEqual([]);
        expect((await login('c', 3))?.ended).toEqual([]);
        // As many as the limit: the least recently used one makes room.
        expect((await login('d', 4))?.ended).toEqual(['a']);
        expect((await login('e', 5))?.ended).toEqual(['b']);
        expect((await store.listActiveSessions('u1', T0 + 6 * MINUTE)).map(({ id }) => id)).toEqual([
          'e',
          'd',
          'c',
        ]);
      });

      it("ends no session when the login's own cannot be stored", async () => {
        await store.createSession(newSession('a'), 'rt-a');
        await store.createSession(newSession('b', { lastUsedAt: T0 + 1 }), 'rt-b');
        const at = T0 + MINUTE;
        // Its id is taken: the insert fails after the limit's update, and nothing of either stays.
        await expect(
          store.createLoginSession(
            newSession('a', { createdAt: at, lastUsedAt: at }),
            'rt-new',
            '$argon2id$v=19$u1',
            { most: 1, reason: LIMITED },
          ),
        ).rejects.toThrow();
        expect((await store.listActiveSessions('u1', at)).map(({ id }) => id).sort()).toEqual(['a', 'b']);
        expect(await peekToken('rt-new')).toBeNull();
      });

      it('returns null for an unknown session', async () => {
        expect(await store.findSession('nope')).toBeNull();
      });

      it('lists live sessions newest first, leaving out revoked, expired and idle-expired ones', async () => {
        const now = T0 + DAY;
        await store.createUser(newUser('u2', { createdAt: T0 }));
        await store.createSession(newSession('old', { createdAt: T0 }), 'rt-old');
        await store.createSession(newSession('new', { createdAt: T0 + 2 }), 'rt-new');
        await store.createSession(newSession('mid', { createdAt: T0 + 1 }), 'rt-mid');
        await store.createSession(newSession('revoked', { createdAt: T0 + 3 }), 'rt-revoked');
        await store.revokeSession('revoked', T0 + 4, 'logout');
        // Expired at exactly `now` counts as expired.
        await store.createSession(newSession('expired', { createdAt: T0 + 3, expiresAt: now }), 'rt-exp');
        await store.createSession(newSession('idle', { createdAt: T0 + 3, idleExpiresAt: now }), 'rt-idle');
        await store.createSession(newSession('other', { userId: 'u2', createdAt: T0 + 3 }), 'rt-other');
        const active = await store.listActiveSessions('u1', now);
        expect(active.map((session) => session.id)).toEqual(['new', 'mid', 'old']);
        expect(active[0]).toEqual({
          ...newSession('new', { createdAt: T0 + 2 }),
          revokedAt: null,
          revokedReason: null,
        });
        expect(await store.listActiveSessions('nobody', now)).toEqual([]);
      });

      it('revokes a session once: a second revocation keeps the first time and reason', async () => {
        await store.createSession(newSession('s1'), 'rt-1');
        const first = await store.revokeSession('s1', T0 + 10, 'logout');
        expect(first).toEqual({ ...newSession('s1'), revokedAt: T0 + 10, revokedReason: 'logout' });
        expect(await store.revokeSession('s1', T0 + 20, 'admin')).toEqual(first);
        expect(await store.findSession('s1')).toEqual(first);
        expect(await store.revokeSession('nope', T0, 'logout')).toBeNull();
      });

      it("revokes a user's live sessions, all or all but one, and names them", async () => {
        await store.createUser(newUser('u2'));
        await store.createSession(newSession('a'), 'rt-a');
        await store.createSession(newSession('b'), 'rt-b');
        await store.createSession(newSession('c'), 'rt-c');
        await store.createSession(newSession('gone'), 'rt-gone');
        await store.createSession(newSession('theirs', { userId: 'u2' }), 'rt-theirs');
        await store.revokeSession('gone', T0 + 1, 'logout');

        expect(await store.revokeUserSessions('u1', T0 + 5, 'logout_all', 'b')).toEqual(
          expect.arrayContaining(['a', 'c']),
        );
        expect((await store.findSession('a'))?.revokedReason).toBe('logout_all');
        expect((await store.findSession('b'))?.revokedAt).toBeNull();
        expect(await store.findSession('gone')).toMatchObject({ revokedAt: T0 + 1, revokedReason: 'logout' });
        expect((await store.findSession('theirs'))?.revokedAt).toBeNull();

        expect(await store.revokeUserSessions('u1', T0 + 6, 'disabled')).toEqual(['b']);
        expect(await store.findSession('b')).toMatchObject({ revokedAt: T0 + 6, revokedReason: 'disabled' });
        expect(await store.findSession('a')).toMatchObject({
          revokedAt: T0 + 5,
          revokedReason: 'logout_all',
        });
        expect(await store.revokeUserSessions('u1', T0 + 7, 'disabled')).toEqual([]);
      });

      it('lists the sessions revoked at or after a time, oldest revocation first', async () => {
        for (const id of ['a', 'b', 'c', 'live']) await store.createSession(newSession(id), `rt-${id}`);
        await store.revokeSession('c', T0 + 30, 'logout');
        await store.revokeSession('a', T0 + 10, 'logout');
        await store.revokeSession('b', T0 + 20, 'logout');
        expect(await store.listRevokedSessionsSince(T0 + 20)).toEqual([
          { id: 'b', revokedAt: T0 + 20 },
          { id: 'c', revokedAt: T0 + 30 },
        ]);
        expect(await store.listRevokedSessionsSince(T0 + 31)).toEqual([]);
      });

      it('lists them a page at a time, in order, ties at one time by id', async () => {
        const ids = ['e', 'a', 'd', 'b', 'c', 'f', 'live'];
        for (const id of ids) await store.createSession(newSession(id), `rt-${id}`);
        // Four at one instant (as a logout-all revokes them), one before and one after.
        for (const id of ['e', 'a', 'd', 'b']) await store.revokeSession(id, T0 + 20, 'logout_all');
        await store.revokeSession('f', T0 + 10, 'logout');
        await store.revokeSession('c', T0 + 30, 'logout');
        const first = await store.listRevokedSessionsSince(T0 + 10, { after: null, limit: 2 });
        expect(first).toEqual([
          { id: 'f', revokedAt: T0 + 10 },
          { id: 'a', revokedAt: T0 + 20 },
        ]);
        const second = await store.listRevokedSessionsSince(T0 + 10, { after: first[1] ?? null, limit: 2 });
        expect(second).toEqual([
          { id: 'b', revokedAt: T0 + 20 },
          { id: 'd', revokedAt: T0 + 20 },
        ]);
        const third = await store.listRevokedSessionsSince(T0 + 10, { after: second[1] ?? null, limit: 2 });
        expect(third).toEqual([
          { id: 'e', revokedAt: T0 + 20 },
          { id: 'c', revokedAt: T0 + 30 },
        ]);
        expect(await store.listRevokedSessionsSince(T0 + 10, { after: third[1] ?? null, limit: 2 })).toEqual(
          [],
        );
        // `since` still bounds the window, whatever `after` says.
        expect(
          await store.listRevokedSessionsSince(T0 + 25, { after: { id: 'a', revokedAt: T0 }, limit: 10 }),
        ).toEqual([{ id: 'c', revokedAt: T0 + 30 }]);
        // An `after` that is no longer listed (its session deleted) still pages from its place.
        expect(
          await store.listRevokedSessionsSince(T0, { after: { id: 'bb', revokedAt: T0 + 20 }, limit: 10 }),
        ).toEqual([
          { id: 'd', revokedAt: T0 + 20 },
          { id: 'e', revokedAt: T0 + 20 },
          { id: 'c', revokedAt: T0 + 30 },
        ]);
      });

      it('deletes expired, idle-expired and long-revoked sessions with their refresh tokens', async () => {
        const before = T0 + 5 * DAY;
        await store.createSession(newSession('expired', { expiresAt: before - 1 }), 'rt-expired');
        await store.createSession(newSession('idle', { idleExpiresAt: before - 1 }), 'rt-idle');
        await store.createSession(newSession('revoked'), 'rt-revoked');
        await store.revokeSession('revoked', before - 1, 'logout');
        await store.createSession(newSession('recent'), 'rt-recent');
        await store.revokeSession('recent', before, 'logout');
        await store.createSession(
          newSession('edge', { expiresAt: before, idleExpiresAt: before }),
          'rt-edge',
        );
        await store.createSession(newSession('live'), 'rt-live');
        await store.consumeRefreshToken('rt-live', () => rotateTo('rt-live-2', T0 + 1));

        expect(await store.deleteExpiredSessions(before)).toBe(3);
        for (const id of ['expired', 'idle', 'revoked']) {
          expect(await store.findSession(id)).toBeNull();
          expect(await peekToken(`rt-${id}`)).toBeNull();
        }
        for (const id of ['recent', 'edge', 'live']) expect(await store.findSession(id)).not.toBeNull();
        expect(await peekToken('rt-live')).not.toBeNull();
        expect(await peekToken('rt-live-2')).not.toBeNull();
        expect(await store.deleteExpiredSessions(before)).toBe(0);
      });
    });

    describe('consumeRefreshToken', () => {
      beforeEach(async () => {
        await store.createSession(newSession('s1'), 'rt-1');
      });

      it('returns null for an unknown token without asking decide', async () => {
        let asked = false;
        const outcome = await store.consumeRefreshToken('rt-unknown', () => {
          asked = true;
          return { action: 'reject' };
        });
        expect(outcome).toBeNull();
        expect(asked).toBe(false);
      });

      it('hands decide exactly the stored token and session', async () => {
        await store.consumeRefreshToken('rt-1', () => rotateTo('rt-2', T0 + 5, T0 + 6 * DAY));
        await store.revokeSession('s1', T0 + 7, 'logout');
        const states: RefreshTokenState[] = [];
        await store.consumeRefreshToken('rt-1', (state) => {
          states.push(state);
          return { action: 'reject' };
        });
        const session: SessionRecord = {
          ...newSession('s1'),
          lastUsedAt: T0 + 5,
          idleExpiresAt: T0 + 6 * DAY,
          revokedAt: T0 + 7,
          revokedReason: 'logout',
        };
        expect(states).toEqual([
          {
            token: { hash: 'rt-1', sessionId: 's1', createdAt: T0, rotatedAt: T0 + 5, successorHash: 'rt-2' },
            session,
          },
        ]);
      });

      it('rotate: marks the token, stores its successor and moves the session times', async () => {
        const outcome = await store.consumeRefreshToken('rt-1', () => rotateTo('rt-2', T0 + 5, T0 + 6 * DAY));
        const session: SessionRecord = {
          ...newSession('s1'),
          lastUsedAt: T0 + 5,
          idleExpiresAt: T0 + 6 * DAY,
          revokedAt: null,
          revokedReason: null,
        };
        expect(outcome).toEqual({ action: 'rotate', session, user: await store.findUserById('u1') });
        expect(await store.findSession('s1')).toEqual(session);
        expect((await peekToken('rt-1'))?.token).toEqual({
          hash: 'rt-1',
          sessionId: 's1',
          createdAt: T0,
          rotatedAt: T0 + 5,
          successorHash: 'rt-2',
        });
        expect(await peekToken('rt-2')).toEqual({
          token: { hash: 'rt-2', sessionId: 's1', createdAt: T0 + 5, rotatedAt: null, successorHash: null },
          session,
        });
      });

      it('refuses to rotate a token that was already rotated, and changes nothing', async () => {
        await store.consumeRefreshToken('rt-1', () => rotateTo('rt-2', T0 + 5));
        const before = await store.findSession('s1');
        const error = await rejection(store.consumeRefreshToken('rt-1', () => rotateTo('rt-3', T0 + 6)));
        expect(error).toBeInstanceOf(Error);
        expect((error as Error).message).toBe('cannot rotate a refresh token that was already rotated');
        expect(await peekToken('rt-3')).toBeNull();
        expect((await peekToken('rt-1'))?.token.successorHash).toBe('rt-2');
        expect(await store.findSession('s1')).toEqual(before);
      });

      it('repeat: changes nothing and returns the stored successor', async () => {
        await store.consumeRefreshToken('rt-1', () => rotateTo('rt-2', T0 + 5));
        const session = await store.findSession('s1');
        const outcome = await store.consumeRefreshToken('rt-1', () => ({ action: 'repeat' }));
        expect(outcome).toEqual({
          action: 'repeat',
          session,
          user: await store.findUserById('u1'),
          successorHash: 'rt-2',
        });
        expect(await store.findSession('s1')).toEqual(session);
        expect((await peekToken('rt-2'))?.token.rotatedAt).toBeNull();
      });

      it('rotate and repeat hand out the user as it is now: roles given since, and a disabled user', async () => {
        await store.addUserRole('u1', 'zeta');
        await store.addUserRole('u1', 'Admin');
        await store.addUserRole('u1', 'admin');
        const rotated = await store.consumeRefreshToken('rt-1', () => rotateTo('rt-2', T0 + 5));
        const expected = { ...newUser('u1'), disabledAt: null, roles: ['Admin', 'admin', 'zeta'] };
        expect(rotated).toMatchObject({ action: 'rotate', user: expected });
        await store.removeUserRole('u1', 'zeta');
        await store.setUserDisabled('u1', T0 + 6);
        const repeated = await store.consumeRefreshToken('rt-1', () => ({ action: 'repeat' }));
        expect(repeated).toMatchObject({
          action: 'repeat',
          user: { ...expected, disabledAt: T0 + 6, roles: ['Admin', 'admin'] },
        });
      });

      it('refuses to repeat a token that has no successor', async () => {
        const error = await rejection(store.consumeRefreshToken('rt-1', () => ({ action: 'repeat' })));
        expect(error).toBeInstanceOf(Error);
        expect((error as Error).message).toBe(
          'cannot repeat a refresh token that was never rotated: it has no successor',
        );
      });

      it('revoke: revokes the session, and the revocation stays', async () => {
        await store.consumeRefreshToken('rt-1', () => rotateTo('rt-2', T0 + 5));
        const outcome = await store.consumeRefreshToken('rt-1', () => ({
          action: 'revoke',
          now: T0 + MINUTE,
          reason: 'refresh_token_reuse',
        }));
        const session: SessionRecord = {
          ...newSession('s1'),
          lastUsedAt: T0 + 5,
          idleExpiresAt: T0 + 5 + 7 * DAY,
          revokedAt: T0 + MINUTE,
          revokedReason: 'refresh_token_reuse',
        };
        expect(outcome).toEqual({ action: 'revoke', session });
        expect(await store.findSession('s1')).toEqual(session);
        expect(await store.listRevokedSessionsSince(T0)).toEqual([{ id: 's1', revokedAt: T0 + MINUTE }]);
        expect(await store.listActiveSessions('u1', T0 + MINUTE)).toEqual([]);
      });

      it('revoke of a revoked session keeps the first revocation', async () => {
        await store.revokeSession('s1', T0 + 1, 'logout');
        const outcome = await store.consumeRefreshToken('rt-1', () => ({
          action: 'revoke',
          now: T0 + 2,
          reason: 'refresh_token_reuse',
        }));
        expect(outcome?.session).toMatchObject({ revokedAt: T0 + 1, revokedReason: 'logout' });
        expect(await store.findSession('s1')).toMatchObject({ revokedAt: T0 + 1, revokedReason: 'logout' });
      });

      it('reject: changes nothing', async () => {
        const session = await store.findSession('s1');
        const token = await peekToken('rt-1');
        expect(await store.consumeRefreshToken('rt-1', reject)).toEqual({ action: 'reject', session });
        expect(await store.findSession('s1')).toEqual(session);
        expect(await peekToken('rt-1')).toEqual(token);
      });

      it('changes nothing when decide throws, and passes the error on', async () => {
        const failure = new Error('decide failed');
        const error = await rejection(
          store.consumeRefreshToken('rt-1', () => {
            throw failure;
          }),
        );
        expect(error).toBe(failure);
        expect((await peekToken('rt-1'))?.token.rotatedAt).toBeNull();
      });

      it('lets one of 20 concurrent uses rotate; the other 19 repeat with its successor', async () => {
        const outcomes = await Promise.all(
          Array.from({ length: 20 }, (_, caller) =>
            store.consumeRefreshToken('rt-1', ({ token }) =>
              token.rotatedAt === null
                ? rotateTo(`rt-next-${caller}`, T0 + 5 + caller)
                : { action: 'repeat' },
            ),
          ),
        );
        const rotations = outcomes.filter((outcome) => outcome?.action === 'rotate');
        const repeats = outcomes.filter((outcome) => outcome?.action === 'repeat');
        expect(rotations).toHaveLength(1);
        expect(repeats).toHaveLength(19);
        const winner = (await peekToken('rt-1'))?.token.successorHash;
        expect(winner).toMatch(/^rt-next-\d+$/);
        for (const repeat of repeats) expect(repeat).toMatchObject({ successorHash: winner });
        expect((await peekToken(winner ?? ''))?.token.rotatedAt).toBeNull();
      });

      it('rotates while other writes of the store are under way, and each keeps its own rows', async () => {
        // A rotation started at every point of another write transaction (sessions are two inserts):
        // a store that ran one inside the other's transaction would fail here or lose rows.
        const microtasks = async (count: number) => {
          for (let i = 0; i < count; i++) await null;
        };
        for (let at = 0; at < 30; at++) {
          await store.createSession(newSession(`old-${at}`), `rt-old-${at}`);
          const [outcome] = await Promise.all([
            microtasks(at).then(() =>
              store.consumeRefreshToken(`rt-old-${at}`, () => rotateTo(`rt-next-${at}`, T0 + 5)),
            ),
            store.createSession(newSession(`new-${at}`), `rt-new-${at}`),
          ]);
          expect(outcome).toMatchObject({ action: 'rotate', user: { id: 'u1' } });
          expect((await peekToken(`rt-old-${at}`))?.token.successorHash).toBe(`rt-next-${at}`);
          expect((await peekToken(`rt-next-${at}`))?.session.id).toBe(`old-${at}`);
          expect((await peekToken(`rt-new-${at}`))?.session.id).toBe(`new-${at}`);
        }
      });
      it('never shows a read the rows of a write that is still open and then fails', async () => {
        // The session goes in before its token, whose hash is taken: the transaction rolls back.
        await store.createSession(newSession('first'), 'rt-taken');
        const microtasks = async (count: number) => {
          for (let i = 0; i < count; i++) await null;
        };
        for (let at = 0; at < 30; at++) {
          const [created, found] = await Promise.allSettled([
            store.createSession(newSession(`doomed-${at}`), 'rt-taken'),
            microtasks(at).then(() => store.findSession(`doomed-${at}`)),
          ]);
          expect(created.status).toBe('rejected');
          expect(found).toEqual({ status: 'fulfilled', value: null });
        }
      });
    });

    describe('changePassword', () => {
      beforeEach(async () => {
        await store.createUser(newUser('u2'));
        for (const id of ['keep', 'a', 'b', 'gone']) await store.createSession(newSession(id), `rt-${id}`);
        await store.createSession(newSession('theirs', { userId: 'u2' }), 'rt-theirs');
        await store.revokeSession('gone', T0 + 1, 'logout');
      });

      it('sets the hash and revokes every other live session of the user', async () => {
        const revoked = await store.changePassword(
          'u1',
          '$argon2id$v=19$u1',
          '$argon2id$v=19$new',
          'keep',
          T0 + 9,
          'password_reset',
        );
        expect([...(revoked ?? [])].sort()).toEqual(['a', 'b']);
        expect((await store.findUserById('u1'))?.passwordHash).toBe('$argon2id$v=19$new');
        expect((await store.listActiveSessions('u1', T0 + 9)).map((session) => session.id)).toEqual(['keep']);
        expect(await store.findSession('a')).toMatchObject({ revokedAt: T0 + 9 });
        // The reason is the domain's: the store keeps the one it was given.
        expect((await store.findSession('a'))?.revokedReason).toBe('password_reset');
        expect(await store.findSession('gone')).toMatchObject({ revokedAt: T0 + 1, revokedReason: 'logout' });
        expect((await store.findSession('theirs'))?.revokedAt).toBeNull();
        expect((await store.findUserById('u2'))?.passwordHash).toBe('$argon2id$v=19$u2');
      });

      it('revokes every live session when there is none to keep', async () => {
        const revoked = await store.changePassword(
          'u1',
          '$argon2id$v=19$u1',
          '$argon2id$v=19$new',
          null,
          T0 + 9,
          CHANGED,
        );
        expect([...(revoked ?? [])].sort()).toEqual(['a', 'b', 'keep']);
        expect(await store.listActiveSessions('u1', T0 + 9)).toEqual([]);
      });

      it('changes nothing when the hash is no longer the one the old password was checked against', async () => {
        await store.changePassword(
          'u1',
          '$argon2id$v=19$u1',
          '$argon2id$v=19$first',
          'keep',
          T0 + 9,
          CHANGED,
        );
        // A second change made with the same old password, checked before the first committed.
        expect(
          await store.changePassword(
            'u1',
            '$argon2id$v=19$u1',
            '$argon2id$v=19$second',
            null,
            T0 + 10,
            CHANGED,
          ),
        ).toBeNull();
        expect((await store.findUserById('u1'))?.passwordHash).toBe('$argon2id$v=19$first');
        expect((await store.listActiveSessions('u1', T0 + 10)).map((session) => session.id)).toEqual([
          'keep',
        ]);
      });
    });

    describe('copies', () => {
      it('keeps stored sessions out of reach of what callers hold', async () => {
        const session = await store.createSession(newSession('s1'), 'rt-1');
        session.revokedAt = 1;
        const listed = await store.listActiveSessions('u1', T0);
        for (const entry of listed) entry.expiresAt = 0;
        await store.consumeRefreshToken('rt-1', (state) => {
          state.session.revokedAt = 1;
          state.token.rotatedAt = 1;
          return { action: 'reject' };
        });
        const outcome = await store.consumeRefreshToken('rt-1', reject);
        if (outcome === null) return expect.fail('token rt-1 is missing');
        outcome.session.userId = 'u2';
        expect(await store.findSession('s1')).toEqual({
          ...newSession('s1'),
          revokedAt: null,
          revokedReason: null,
        });
        expect((await peekToken('rt-1'))?.token.rotatedAt).toBeNull();
      });
    });
  });
}

/** The throttling counters, alone: a counter store needs nothing else. */
export function describeCounterStore(name: string, open: () => Promise<CounterStore & Closable>): void {
  describe(`${name}: CounterStore conformance`, () => {
    let store: CounterStore & Closable;

    beforeEach(async () => {
      store = await open();
    });

    afterEach(async () => {
      await store.close();
    });

    describe('counters', () => {
      it('counts failures within a window and starts a new window once it has ended', async () => {
        expect(await recordFailure(store, 'login:u1', MINUTE, T0)).toEqual({
          count: 1,
          windowStartedAt: T0,
          lastAt: T0,
          expiresAt: T0 + MINUTE,
        });
        await recordFailure(store, 'login:u1', MINUTE, T0 + 1);
        const third = { count: 3, windowStartedAt: T0, lastAt: T0 + MINUTE - 1, expiresAt: T0 + MINUTE };
        expect(await recordFailure(store, 'login:u1', MINUTE, T0 + MINUTE - 1)).toEqual(third);
        expect(await readCounter(store, 'login:u1', T0 + MINUTE - 1)).toEqual(third);
        expect(await readCounter(store, 'login:other', T0)).toBeNull();
        expect(await recordFailure(store, 'login:u1', 2 * MINUTE, T0 + MINUTE)).toEqual({
          count: 1,
          windowStartedAt: T0 + MINUTE,
          lastAt: T0 + MINUTE,
          expiresAt: T0 + 3 * MINUTE,
        });
      });

      it('forgets a counter once its window has ended', async () => {
        await recordFailure(store, 'ip:203.0.113.7', MINUTE, T0);
        expect(await readCounter(store, 'ip:203.0.113.7', T0 + MINUTE - 1)).not.toBeNull();
        expect(await readCounter(store, 'ip:203.0.113.7', T0 + MINUTE)).toBeNull();
      });

      it('clears a counter, and only that one', async () => {
        await recordFailure(store, 'a', MINUTE, T0);
        await recordFailure(store, 'b', MINUTE, T0);
        await store.clearCounter('a');
        await store.clearCounter('never-set');
        expect(await readCounter(store, 'a', T0)).toBeNull();
        expect((await readCounter(store, 'b', T0))?.count).toBe(1);
      });

      it('deletes counters whose window has ended, and only those', async () => {
        await recordFailure(store, 'old', MINUTE, T0);
        await recordFailure(store, 'new', MINUTE, T0 + MINUTE);
        expect(await store.deleteExpiredCounters(T0 + MINUTE)).toBe(0);
        expect(await store.deleteExpiredCounters(T0 + MINUTE + 1)).toBe(1);
        expect(await readCounter(store, 'new', T0 + MINUTE)).not.toBeNull();
        await recordFailure(store, 'old', MINUTE, T0 + 2 * MINUTE);
        expect((await readCounter(store, 'old', T0 + 2 * MINUTE))?.count).toBe(1);
      });

      it('loses no failure to concurrency, and keeps the latest failure time', async () => {
        await Promise.all(Array.from({ length: 20 }, (_, i) => recordFailure(store, 'k', MINUTE, T0 + i)));
        const counter = await readCounter(store, 'k', T0 + 20);
        expect(counter).toMatchObject({ count: 20, lastAt: T0 + 19 });
        // With many connections the failures commit in any order: the window starts at whichever was first.
        const start = counter?.windowStartedAt ?? Number.NaN;
        expect(start).toBeGreaterThanOrEqual(T0);
        expect(start).toBeLessThanOrEqual(T0 + 19);
        expect(counter?.expiresAt).toBe(start + MINUTE);
      });
    });

    describe('counters in batches', () => {
      it('reads several counters at once, in the order asked, null where none or ended', async () => {
        await recordFailure(store, 'b', MINUTE, T0);
        await recordFailure(store, 'b', MINUTE, T0 + 1);
        await recordFailure(store, 'short', 10, T0);
        await recordFailure(store, 'a', MINUTE, T0 + 2);
        const [a, none, b, short] = await store.readCounters(['a', 'none', 'b', 'short'], T0 + 10);
        expect(a).toEqual({ count: 1, windowStartedAt: T0 + 2, lastAt: T0 + 2, expiresAt: T0 + 2 + MINUTE });
        expect(none).toBeNull();
        expect(b).toMatchObject({ count: 2, windowStartedAt: T0, lastAt: T0 + 1 });
        expect(short).toBeNull();
        expect(await store.readCounters([], T0)).toEqual([]);
      });

      it('counts a batch of failures, each in its own window, answering in the order given', async () => {
        await recordFailure(store, 'z', MINUTE, T0);
        await recordFailure(store, 'ended', 10, T0);
        const counted = await store.recordFailures(
          [
            { key: 'z', windowMs: MINUTE },
            { key: 'new', windowMs: 2 * MINUTE },
            { key: 'ended', windowMs: MINUTE },
          ],
          T0 + 10,
        );
        expect(counted).toEqual([
          { count: 2, windowStartedAt: T0, lastAt: T0 + 10, expiresAt: T0 + MINUTE },
          { count: 1, windowStartedAt: T0 + 10, lastAt: T0 + 10, expiresAt: T0 + 10 + 2 * MINUTE },
          { count: 1, windowStartedAt: T0 + 10, lastAt: T0 + 10, expiresAt: T0 + 10 + MINUTE },
        ]);
        expect(await store.readCounters(['ended', 'new', 'z'], T0 + 10)).toEqual([
          counted[2],
          counted[1],
          counted[0],
        ]);
        expect(await store.recordFailures([], T0)).toEqual([]);
      });

      it('refuses a batch that names a key twice, and counts nothing of it', async () => {
        const twice = store.recordFailures(
          [
            { key: 'a', windowMs: MINUTE },
            { key: 'a', windowMs: MINUTE },
          ],
          T0,
        );
        await expect(twice).rejects.toThrow('names a key twice');
        expect(await store.readCounters(['a'], T0)).toEqual([null]);
      });

      it('loses no failure when batches sharing keys, in any order, run at once', async () => {
        const keys = ['k1', 'k2', 'k3'];
        await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            // Each batch names the keys in an order of its own: no order may deadlock another.
            store.recordFailures(
              [...keys.slice(i % 3), ...keys.slice(0, i % 3)].map((key) => ({ key, windowMs: MINUTE })),
              T0 + i,
            ),
          ),
        );
        const counters = await store.readCounters(keys, T0 + 20);
        for (const counter of counters) expect(counter).toMatchObject({ count: 20, lastAt: T0 + 19 });
      });
    });

    describe('copies', () => {
      it('keeps stored counters out of reach of what callers hold', async () => {
        const counter = await recordFailure(store, 'k', MINUTE, T0);
        counter.count = 100;
        const read = await readCounter(store, 'k', T0);
        if (read !== null) read.expiresAt = 0;
        expect(await readCounter(store, 'k', T0)).toMatchObject({ count: 1, expiresAt: T0 + MINUTE });
      });
    });
  });
}

/** Signing keys and server secrets. */
export function describeKeyStore(name: string, open: () => Promise<KeyStore & Closable>): void {
  describe(`${name}: KeyStore conformance`, () => {
    let store: KeyStore & Closable;

    beforeEach(async () => {
      store = await open();
    });

    afterEach(async () => {
      await store.close();
    });

    describe('signing keys', () => {
      it('inserts keys and lists them, oldest first', async () => {
        expect(await store.insertSigningKey(newSigningKey('k2', { createdAt: T0 + 1 }))).toBe(true);
        expect(await store.insertSigningKey(newSigningKey('k1'))).toBe(true);
        expect(await store.listSigningKeys()).toEqual([
          newSigningKey('k1'),
          newSigningKey('k2', { createdAt: T0 + 1 }),
        ]);
      });

      it('refuses a duplicate kid and keeps the first key', async () => {
        await store.insertSigningKey(newSigningKey('k1'));
        expect(await store.insertSigningKey(newSigningKey('k1', { alg: 'EdDSA', publicJwk: '{}' }))).toBe(
          false,
        );
        expect(await store.listSigningKeys()).toEqual([newSigningKey('k1')]);
      });

      it('deletes the keys named, and only those', async () => {
        for (const kid of ['a', 'b', 'c']) await store.insertSigningKey(newSigningKey(kid));
        expect(await store.deleteSigningKeys(['a', 'c', 'unknown'])).toBe(2);
        expect((await store.listSigningKeys()).map((key) => key.kid)).toEqual(['b']);
        expect(await store.deleteSigningKeys([])).toBe(0);
      });

      it('reseals a key only from what is stored, once', async () => {
        await store.insertSigningKey(newSigningKey('k1', { privateKey: 'sealed-old' }));
        await store.insertSigningKey(newSigningKey('k2', { privateKey: 'other' }));
        expect(await store.resealSigningKey('k1', 'sealed-old', 'sealed-new')).toBe(true);
        // A second process that read the old envelope finds it gone and changes nothing.
        expect(await store.resealSigningKey('k1', 'sealed-old', 'sealed-third')).toBe(false);
        expect(await store.resealSigningKey('unknown', 'sealed-old', 'x')).toBe(false);
        expect(await store.listSigningKeys()).toEqual([
          newSigningKey('k1', { privateKey: 'sealed-new' }),
          newSigningKey('k2', { privateKey: 'other' }),
        ]);
      });

      it('revokes a key and adds its replacement together', async () => {
        await store.insertSigningKey(newSigningKey('old'));
        const replacement = newSigningKey('new', { createdAt: T0 + 1, activatesAt: T0 + 5 });
        expect(await store.revokeSigningKey('old', T0 + 5, replacement)).toBe(true);
        expect(await store.listSigningKeys()).toEqual([
          newSigningKey('old', { revokedAt: T0 + 5 }),
          replacement,
        ]);
      });

      it('revokes a key without a replacement', async () => {
        await store.insertSigningKey(newSigningKey('next'));
        expect(await store.revokeSigningKey('next', T0 + 5, null)).toBe(true);
        expect(await store.listSigningKeys()).toEqual([newSigningKey('next', { revokedAt: T0 + 5 })]);
      });

      it('changes nothing for an unknown or already revoked key, and adds no replacement', async () => {
        await store.insertSigningKey(newSigningKey('old', { revokedAt: T0 }));
        const replacement = newSigningKey('new');
        expect(await store.revokeSigningKey('old', T0 + 5, replacement)).toBe(false);
        expect(await store.revokeSigningKey('unknown', T0 + 5, replacement)).toBe(false);
        expect(await store.listSigningKeys()).toEqual([newSigningKey('old', { revokedAt: T0 })]);
      });

      it('keeps the key unrevoked when its replacement cannot be stored', async () => {
        await store.insertSigningKey(newSigningKey('old'));
        await store.insertSigningKey(newSigningKey('taken', { createdAt: T0 + 1 }));
        await expect(store.revokeSigningKey('old', T0 + 5, newSigningKey('taken'))).rejects.toThrow();
        expect(await store.listSigningKeys()).toEqual([
          newSigningKey('old'),
          newSigningKey('taken', { createdAt: T0 + 1 }),
        ]);
      });
    });

    describe('secrets', () => {
      it('keeps the first value written under a name', async () => {
        expect(await store.ensureSecret('cookie', 'first')).toBe('first');
        expect(await store.ensureSecret('cookie', 'second')).toBe('first');
        expect(await store.ensureSecret('other', 'third')).toBe('third');
      });

      it('gives every concurrent writer the same value', async () => {
        const values = await Promise.all(
          Array.from({ length: 10 }, (_, i) => store.ensureSecret('cookie', `value-${i}`)),
        );
        expect(new Set(values).size).toBe(1);
      });

      it('replaces a secret only while it holds what the caller read', async () => {
        await store.ensureSecret('cookie', 'plain');
        await store.ensureSecret('other', 'plain');
        expect(await store.replaceSecret('cookie', 'stale', 'sealed')).toBe(false);
        expect(await store.replaceSecret('missing', 'plain', 'sealed')).toBe(false);
        expect(await store.ensureSecret('cookie', 'x')).toBe('plain');
        expect(await store.replaceSecret('cookie', 'plain', 'sealed')).toBe(true);
        expect(await store.ensureSecret('cookie', 'x')).toBe('sealed');
        // The other secret, with the same value, stays as it was.
        expect(await store.ensureSecret('other', 'x')).toBe('plain');
        // Two processes resealing at once: one wins, the other is told it lost.
        const both = await Promise.all([
          store.replaceSecret('cookie', 'sealed', 'a'),
          store.replaceSecret('cookie', 'sealed', 'b'),
        ]);
        expect(both.filter(Boolean)).toHaveLength(1);
      });
    });

    describe('copies', () => {
      it('keeps stored keys out of reach of what callers hold', async () => {
        const key = newSigningKey('k1');
        await store.insertSigningKey(key);
        key.privateKey = 'changed';
        const [listed] = await store.listSigningKeys();
        if (listed !== undefined) listed.expiresAt = 0;
        expect(await store.listSigningKeys()).toEqual([newSigningKey('k1')]);
      });
    });
  });
}

/** Every section, and what only the whole store has: its health. */
export function describeStoreConformance(name: string, open: () => Promise<Store>): void {
  describeUserStore(name, open);
  describeSessionStore(name, open);
  describeCounterStore(name, open);
  describeKeyStore(name, open);
  describe(`${name}: Store conformance`, () => {
    let store: Store;

    beforeEach(async () => {
      store = await open();
    });

    afterEach(async () => {
      await store.close();
    });

    describe('health', () => {
      it('answers a ping while open', async () => {
        await expect(store.ping()).resolves.toBeUndefined();
      });

      it('fails a ping with ERR_STORE_UNAVAILABLE once closed', async () => {
        await store.close();
        const error = await rejection(store.ping());
        expect(error).toBeInstanceOf(StoreError);
        expect(error).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
        expect((error as Error).message).not.toBe('');
      });
    });
  });
}
