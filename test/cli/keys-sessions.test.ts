import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLIENT, createTestDatabase, PASSWORD, type TestDatabase } from './run-cli.js';

let db: TestDatabase;
beforeEach(async () => {
  db = await createTestDatabase();
  await db.run(['migrate']);
});
afterEach(async () => db.remove());

/** The rows of a printed table, each split into its cells. */
function rows(table: string): string[][] {
  return table
    .trimEnd()
    .split('\n')
    .slice(1)
    .map((line) => line.split(/ {2,}/));
}

describe('latchkey keys', () => {
  it('lists one active key on a fresh database, with its times and no key material', async () => {
    const result = await db.run(['keys', 'list']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^KID +ALG +STATE +ACTIVATES +RETIRES +EXPIRES\n/);
    const [key, ...others] = rows(result.stdout);
    expect(others).toEqual([]);
    expect(key).toHaveLength(6);
    expect(key?.slice(1, 3)).toEqual(['ES256', 'active']);
    expect(result.stdout).not.toMatch(/PRIVATE KEY|"d":/);
  });

  it('rotates by publishing the next key first', async () => {
    const [[oldKid] = []] = rows((await db.run(['keys', 'list'])).stdout);
    const rotated = await db.run(['keys', 'rotate']);
    expect(rotated.code).toBe(0);
    const nextKid = rotated.stdout.trim();
    const listed = rows((await db.run(['keys', 'list'])).stdout);
    expect(listed.map(([kid, , state]) => [kid, state])).toEqual([
      [oldKid, 'active'],
      [nextKid, 'next'],
    ]);
  });

  it('rotates --now: a new active kid, the old one retired but still listed; servers sign with the new', async () => {
    const [[oldKid] = []] = rows((await db.run(['keys', 'list'])).stdout);
    const rotated = await db.run(['keys', 'rotate', '--now']);
    expect(rotated.code).toBe(0);
    const newKid = rotated.stdout.trim();
    expect(newKid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(newKid).not.toBe(oldKid);

    const listed = rows((await db.run(['keys', 'list'])).stdout);
    expect(listed.map(([kid, , state]) => [kid, state])).toEqual([
      [oldKid, 'retired'],
      [newKid, 'active'],
    ]);
    await db.withRuntime(async ({ keys }) => {
      expect(keys.signingKey.kid).toBe(newKid);
      expect(keys.verificationKeys.keys.map((key) => key.kid).sort()).toEqual([oldKid, newKid].sort());
    });
  });
});

describe('latchkey sessions revoke', () => {
  beforeEach(async () => {
    await db.run(['users', 'add', 'ann@example.com', '--password-stdin'], { stdin: PASSWORD });
  });

  it('revokes one session by id: its refresh token stops working, the others keep theirs', async () => {
    const [first, second] = await db.withRuntime(async ({ service }) => [
      await service.login('ann@example.com', PASSWORD, CLIENT),
      await service.login('ann@example.com', PASSWORD, CLIENT),
    ]);
    if (first === undefined || second === undefined) throw new Error('two logins expected');
    const result = await db.run(['sessions', 'revoke', first.sessionId]);
    expect(result).toEqual({
      code: 0,
      stdout: `revoked session ${first.sessionId} of ann@example.com\n`,
      stderr: '',
    });
    await db.withRuntime(async ({ service, store }) => {
      await expect(service.refresh(first.refreshToken)).rejects.toMatchObject({ code: 'ERR_INVALID_GRANT' });
      await expect(service.refresh(second.refreshToken)).resolves.toBeDefined();
      expect((await store.findSession(first.sessionId))?.revokedReason).toBe('revoked_by_admin');
    });
    const again = await db.run(['sessions', 'revoke', first.sessionId]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/was revoked already at .* \(revoked_by_admin\)/);
  });

  it('revokes every session of a user with --user', async () => {
    const logins = await db.withRuntime(async ({ service }) => [
      await service.login('ann@example.com', PASSWORD, CLIENT),
      await service.login('ann@example.com', PASSWORD, CLIENT),
    ]);
    const result = await db.run(['sessions', 'revoke', '--user', 'ANN@example.com']);
    expect(result).toEqual({ code: 0, stdout: 'revoked 2 sessions of ann@example.com\n', stderr: '' });
    await db.withRuntime(async ({ service }) => {
      for (const login of logins) {
        await expect(service.refresh(login.refreshToken)).rejects.toMatchObject({
          code: 'ERR_INVALID_GRANT',
        });
      }
    });
  });

  it('names unknown sessions and users (exit 1) and wrong usage (exit 2)', async () => {
    expect(await db.run(['sessions', 'revoke', 'nope'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'latchkey: no session with id nope\n',
    });
    const user = await db.run(['sessions', 'revoke', '--user', 'bob@example.com']);
    expect(user).toMatchObject({ code: 1, stderr: 'latchkey: no user with email bob@example.com\n' });
    expect(await db.run(['sessions', 'revoke'])).toMatchObject({
      code: 2,
      stderr: 'latchkey: name a session id, or --user <email>\n',
    });
    expect((await db.run(['sessions', 'revoke', 'x', '--user', 'ann@example.com'])).code).toBe(2);
    expect((await db.run(['sessions', 'frobnicate'])).code).toBe(2);
  });
});
