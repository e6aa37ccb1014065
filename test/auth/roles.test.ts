/**
 * Roles in the domain: the role-name rule, the admin service that gives and takes roles, and the
 * `roles` claim as AccessTokens issues and verifies it.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { AccessTokens } from '../../src/auth/access-tokens.js';
import { AdminService } from '../../src/auth/admin.js';
import { requireRoleName } from '../../src/auth/roles.js';
import { SigningKeys } from '../../src/auth/signing-keys.js';
import { AuthError, JWTClaimError } from '../../src/errors.js';
import { createSigner, decodeUnverified } from '../../src/jwt/index.js';
import { MemoryStore } from '../../src/store/memory.js';

const T0 = 1_800_000_000_000;
const ROLE_MESSAGE =
  'role must be 1 to 64 characters: letters, digits and . _ : - (starting with a letter or digit)';

function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return expect.fail('expected a throw');
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (error: unknown) => error,
  );
}

describe('requireRoleName', () => {
  it.each(['admin', 'A', '7', 'billing:read', 'org.acme_ops-2', 'x'.repeat(64)])('accepts %j', (role) => {
    expect(requireRoleName(role)).toBe(role);
  });

  it.each([
    ['empty', ''],
    ['65 characters', 'x'.repeat(65)],
    ['a space', 'site admin'],
    ['surrounding spaces', ' admin '],
    ['a trailing newline', 'admin\n'],
    ['a leading dash (an option, on a command line)', '-admin'],
    ['a leading dot', '.admin'],
    ['a leading colon', ':admin'],
    ['a slash', 'admin/root'],
    ['a comma', 'admin,root'],
    ['a quote', 'admin"'],
    ['non-ASCII letters', 'ädmin'],
    ['a look-alike Cyrillic a', 'аdmin'],
    ['a control character', 'ad\u0000min'],
  ])('refuses %s with ERR_INVALID_INPUT naming the field', (_name, role) => {
    const error = thrown(() => requireRoleName(role));
    expect(error).toBeInstanceOf(AuthError);
    expect(error).toMatchObject({ code: 'ERR_INVALID_INPUT', field: 'role', message: ROLE_MESSAGE });
  });

  it('refuses a value that is not a string', () => {
    expect(thrown(() => requireRoleName(['admin'] as unknown as string))).toMatchObject({
      code: 'ERR_INVALID_INPUT',
      field: 'role',
    });
  });
});

describe('AdminService roles', () => {
  let store: MemoryStore;
  let admin: AdminService;

  beforeEach(async () => {
    store = new MemoryStore();
    admin = new AdminService({ store });
    await store.createUser({ id: 'u1', email: 'ann@example.com', passwordHash: 'phc', createdAt: T0 });
    await store.createUser({ id: 'u2', email: 'bob@example.com', passwordHash: 'phc', createdAt: T0 });
  });

  it('adds a role once and says whether it changed anything, finding the user as at registration', async () => {
    expect(await admin.addRole(' Ann@Example.com ', 'admin')).toEqual({
      email: 'ann@example.com',
      role: 'admin',
      changed: true,
    });
    expect(await admin.addRole('ann@example.com', 'admin')).toMatchObject({ changed: false });
    await admin.addRole('ann@example.com', 'Editor');
    expect(await admin.listRoles('ann@example.com')).toEqual({
      email: 'ann@example.com',
      roles: ['Editor', 'admin'],
    });
    expect(await admin.listRoles('bob@example.com')).toEqual({ email: 'bob@example.com', roles: [] });
  });

  it('removes a role once and says whether it changed anything', async () => {
    await admin.addRole('ann@example.com', 'admin');
    expect(await admin.removeRole('ann@example.com', 'admin')).toEqual({
      email: 'ann@example.com',
      role: 'admin',
      changed: true,
    });
    expect(await admin.removeRole('ann@example.com', 'admin')).toMatchObject({ changed: false });
    expect((await admin.listRoles('ann@example.com')).roles).toEqual([]);
  });

  it('refuses an unknown user with ERR_USER_NOT_FOUND, for every operation', async () => {
    for (const run of [
      () => admin.listRoles('Nobody@example.com'),
      () => admin.addRole('Nobody@example.com', 'admin'),
      () => admin.removeRole('Nobody@example.com', 'admin'),
    ]) {
      const error = await rejection(run());
      expect(error).toBeInstanceOf(AuthError);
      expect(error).toMatchObject({
        code: 'ERR_USER_NOT_FOUND',
        message: 'no user with email nobody@example.com',
      });
    }
  });

  it('refuses a bad role name or email before looking anything up, and changes nothing', async () => {
    for (const run of [
      () => admin.addRole('ann@example.com', 'site admin'),
      () => admin.removeRole('ann@example.com', ''),
      () => admin.addRole('nobody@example.com', 'site admin'),
    ]) {
      expect(await rejection(run())).toMatchObject({
        code: 'ERR_INVALID_INPUT',
        field: 'role',
        message: ROLE_MESSAGE,
      });
    }
    expect(await rejection(admin.addRole('not-an-email', 'admin'))).toMatchObject({
      code: 'ERR_INVALID_INPUT',
      field: 'email',
      message: 'email must be a valid email address',
    });
    expect((await admin.listRoles('ann@example.com')).roles).toEqual([]);
  });
});

describe('AccessTokens: the roles claim', () => {
  const issuer = 'https://auth.example';
  let keys: SigningKeys;
  let tokens: AccessTokens;

  beforeEach(async () => {
    const store = new MemoryStore();
    const day = 86_400_000;
    keys = new SigningKeys(
      store,
      { alg: 'ES256', rotationMs: 30 * day, prePublishMs: 2 * day, retentionMs: 930_000 },
      null,
      () => T0,
    );
    await keys.maintain();
    tokens = new AccessTokens(keys, {
      issuer,
      audience: issuer,
      clientId: 'latchkey',
      ttlSeconds: 900,
      clockToleranceSeconds: 30,
      now: () => T0,
    });
  });

  /** A token signed with the server's own key, with claims of our choosing. */
  function forge(claims: Record<string, unknown>): string {
    const sign = createSigner({
      key: keys.signingKey,
      typ: 'at+jwt',
      issuer,
      audience: issuer,
      expiresInSeconds: 900,
      jti: true,
      now: () => T0,
    });
    return sign({ sub: 'u1', sid: 's1', client_id: 'latchkey', ...claims });
  }

  it('carries the roles given, in order, and verifies them', () => {
    const token = tokens.issue('u1', 's1', ['admin', 'billing:read']);
    expect(decodeUnverified(token).payload.roles).toEqual(['admin', 'billing:read']);
    expect(tokens.verify(token).roles).toEqual(['admin', 'billing:read']);
  });

  it('leaves the claim out, not empty, when there are no roles', () => {
    const token = tokens.issue('u1', 's1', []);
    expect(Object.hasOwn(decodeUnverified(token).payload, 'roles')).toBe(false);
    expect(Object.hasOwn(tokens.verify(token), 'roles')).toBe(false);
  });

  it('accepts an empty roles list from another issuer of the same key', () => {
    expect(tokens.verify(forge({ roles: [] })).roles).toEqual([]);
  });

  it.each([
    ['a string', 'admin'],
    ['null', null],
    ['an object', { admin: true }],
    ['a number in the list', ['admin', 1]],
    ['a nested list', [['admin']]],
    ['null in the list', [null]],
  ])('refuses a roles claim that is %s with ERR_JWT_CLAIM_INVALID naming it', (_name, roles) => {
    const error = thrown(() => tokens.verify(forge({ roles })));
    expect(error).toBeInstanceOf(JWTClaimError);
    expect(error).toMatchObject({
      code: 'ERR_JWT_CLAIM_INVALID',
      claim: 'roles',
      message: '"roles" claim must be an array of strings',
    });
  });
});
