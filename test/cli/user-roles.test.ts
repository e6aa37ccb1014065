import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeUnverified } from '../../src/jwt/index.js';
import { createTestApp } from '../support/app.js';
import { CLIENT, createTestDatabase, PASSWORD, type TestDatabase } from './run-cli.js';

const ROLE_MESSAGE =
  'latchkey: role must be 1 to 64 characters: letters, digits and . _ : - (starting with a letter or digit)\n';

let db: TestDatabase;
beforeEach(async () => {
  db = await createTestDatabase();
  await db.run(['users', 'add', 'ann@example.com', '--password-stdin'], { stdin: PASSWORD });
});
afterEach(async () => db.remove());

const rolesOf = (accessToken: string) => decodeUnverified(accessToken).payload.roles;

describe('latchkey users roles', () => {
  it('lists no roles with a note on stderr, adds and removes roles, and says what changed', async () => {
    expect(await db.run(['users', 'roles', 'ann@example.com'])).toEqual({
      code: 0,
      stdout: '',
      stderr: 'ann@example.com has no roles\n',
    });
    expect(await db.run(['users', 'roles', 'Ann@Example.com', 'add', 'admin'])).toEqual({
      code: 0,
      stdout: 'added role admin to ann@example.com\n',
      stderr: '',
    });
    expect(await db.run(['users', 'roles', 'ann@example.com', 'add', 'admin'])).toEqual({
      code: 0,
      stdout: 'ann@example.com has role admin already\n',
      stderr: '',
    });
    await db.run(['users', 'roles', 'ann@example.com', 'add', 'billing:read']);
    // One role a line on stdout and nothing else, for scripts.
    expect(await db.run(['users', 'roles', 'ann@example.com'])).toEqual({
      code: 0,
      stdout: 'admin\nbilling:read\n',
      stderr: '',
    });

    expect(await db.run(['users', 'roles', 'ann@example.com', 'remove', 'admin'])).toEqual({
      code: 0,
      stdout: 'removed role admin from ann@example.com\n',
      stderr:
        'access tokens issued before keep it until they expire (within 900 s); ' +
        '`latchkey sessions revoke --user ann@example.com` ends them now\n',
    });
    expect(await db.run(['users', 'roles', 'ann@example.com', 'remove', 'admin'])).toEqual({
      code: 0,
      stdout: 'ann@example.com has no role admin\n',
      stderr: '',
    });
    expect((await db.run(['users', 'roles', 'ann@example.com'])).stdout).toBe('billing:read\n');
  });

  it('names an unknown user with exit code 1, for listing, adding and removing', async () => {
    for (const args of [[], ['add', 'admin'], ['remove', 'admin']]) {
      expect(await db.run(['users', 'roles', 'Nobody@example.com', ...args])).toEqual({
        code: 1,
        stdout: '',
        stderr: 'latchkey: no user with email nobody@example.com\n',
      });
    }
  });

  it('refuses an invalid role or email with exit code 1 and changes nothing', async () => {
    for (const role of ['site admin', 'x'.repeat(65), 'ädmin', 'admin;rm']) {
      expect(await db.run(['users', 'roles', 'ann@example.com', 'add', role])).toEqual({
        code: 1,
        stdout: '',
        stderr: ROLE_MESSAGE,
      });
    }
    expect(await db.run(['users', 'roles', 'ann@example.com', 'remove', ''])).toMatchObject({
      code: 1,
      stderr: ROLE_MESSAGE,
    });
    expect(await db.run(['users', 'roles', 'not-an-email', 'add', 'admin'])).toMatchObject({
      code: 1,
      stderr: 'latchkey: email must be a valid email address\n',
    });
    expect((await db.run(['users', 'roles', 'ann@example.com'])).stdout).toBe('');
  });

  it('refuses a wrong command line with exit code 2, before opening the database', async () => {
    const unknown = await db.run(['users', 'roles', 'ann@example.com', 'grant', 'admin']);
    expect(unknown).toEqual({
      code: 2,
      stdout: '',
      stderr: 'latchkey: unknown action "grant": use add or remove, or nothing to list the roles\n',
    });
    expect(await db.run(['users', 'roles', 'ann@example.com', 'add'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'latchkey: add needs a role: latchkey users roles EMAIL add ROLE\n',
    });
    expect(await db.run(['users', 'roles', 'nobody@example.com', 'remove'])).toMatchObject({
      code: 2,
      stderr: 'latchkey: remove needs a role: latchkey users roles EMAIL remove ROLE\n',
    });
    const missing = await db.run(['users', 'roles']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("missing required argument 'email'");
    const extra = await db.run(['users', 'roles', 'ann@example.com', 'add', 'admin', 'editor']);
    expect(extra.code).toBe(2);
    expect(extra.stderr).toContain('too many arguments');
    // A role that looks like an option is refused by the parser, and never taken as a flag.
    expect((await db.run(['users', 'roles', 'ann@example.com', 'add', '--admin'])).code).toBe(2);
    expect((await db.run(['users', 'roles', 'ann@example.com'])).stdout).toBe('');
  });

  it('puts an added role into the next login and refresh, and a removed one out at the next refresh', async () => {
    await db.run(['users', 'roles', 'ann@example.com', 'add', 'admin']);
    const tokens = await db.withRuntime(async ({ service }) => {
      const login = await service.login('ann@example.com', PASSWORD, CLIENT);
      expect(rolesOf(login.accessToken)).toEqual(['admin']);
      return login;
    });
    await db.run(['users', 'roles', 'ann@example.com', 'remove', 'admin']);
    await db.withRuntime(async ({ service }) => {
      const refreshed = await service.refresh(tokens.refreshToken);
      expect(Object.hasOwn(decodeUnverified(refreshed.accessToken).payload, 'roles')).toBe(false);
    });
  });

  it('reaches a running server: its next login and refresh over HTTP carry the role', async () => {
    const app = await createTestApp(db.env);
    try {
      const login = async () => {
        const res = await app.inject({
          method: 'POST',
          url: '/auth/login',
          payload: { email: 'ann@example.com', password: PASSWORD, refresh_in: 'body' },
        });
        expect(res.statusCode, res.body).toBe(200);
        return res.json() as { access_token: string; refresh_token: string };
      };
      const before = await login();
      expect(rolesOf(before.access_token)).toBeUndefined();

      expect((await db.run(['users', 'roles', 'ann@example.com', 'add', 'admin'])).code).toBe(0);
      const refreshed = await app.inject({
        method: 'POST',
        url: '/auth/refresh',
        payload: { refresh_token: before.refresh_token },
      });
      expect(refreshed.statusCode, refreshed.body).toBe(200);
      expect(rolesOf((refreshed.json() as { access_token: string }).access_token)).toEqual(['admin']);
      expect(rolesOf((await login()).access_token)).toEqual(['admin']);
    } finally {
      await app.close();
    }
  });
});
