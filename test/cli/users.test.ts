import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLIENT, createTestDatabase, PASSWORD, type TestDatabase } from './run-cli.js';

let db: TestDatabase;
beforeEach(async () => {
  db = await createTestDatabase();
});
afterEach(async () => db.remove());

describe('latchkey migrate', () => {
  it('creates the database and applies the migrations, and says so; a second run does nothing', async () => {
    const first = await db.run(['migrate']);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toContain('created SQLite database');
    expect(first.stdout).toContain('applied migration 0001_initial');
    expect(first.stdout).toContain('applied migration 0002_signing_key_revocation');
    expect(first.stdout).toContain('applied migration 0003_user_roles');
    expect(first.stdout).toContain('applied migration 0004_revocation_feed_index');
    expect(first.stdout).toContain('applied migration 0005_live_sessions_index');
    const second = await db.run(['migrate']);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/is up to date \(schema 0005_live_sessions_index\)/);
    expect(second.stdout).not.toContain('applied');
  });

  it('refuses a bad configuration with the variable named and exit code 2', async () => {
    const bad = await createTestDatabase({ LATCHKEY_ACCESS_TTL: '0' });
    try {
      const refused = await bad.run(['migrate']);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toBe(
        'latchkey: invalid configuration: LATCHKEY_ACCESS_TTL: must be from 1 to 86400\n',
      );
    } finally {
      await bad.remove();
    }
  });
});

describe('latchkey users', () => {
  it('adds a user from --password-stdin, normalised as at registration, and lists it', async () => {
    const added = await db.run(['users', 'add', '  Ann@Example.COM ', '--password-stdin'], {
      stdin: `${PASSWORD}\n`,
    });
    expect(added.code).toBe(0);
    const id = added.stdout.trim();
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(added.stderr).toBe('added user ann@example.com\n');
    expect(added.stdout + added.stderr).not.toContain(PASSWORD);

    const list = await db.run(['users', 'list']);
    expect(list.code).toBe(0);
    const [header, row, ...rest] = list.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^ID +EMAIL +CREATED +DISABLED$/);
    expect(row).toMatch(new RegExp(`^${id} +ann@example\\.com +\\d{4}-\\d\\d-\\d\\dT[\\d:]{8}Z +no$`));
    expect(rest).toEqual([]);
    // Aligned: every column starts where its header does.
    expect(row?.indexOf('ann@')).toBe(header?.indexOf('EMAIL'));

    // Hashed like a registration: the service logs the user in with that password.
    await db.withRuntime(async ({ service }) => {
      await expect(service.login('ann@example.com', PASSWORD, CLIENT)).resolves.toMatchObject({
        expiresIn: 900,
      });
    });
  });

  it('says "no users" for an empty database', async () => {
    await db.run(['migrate']);
    expect(await db.run(['users', 'list'])).toEqual({ code: 0, stdout: 'no users\n', stderr: '' });
  });

  it('refuses a taken email with exit code 1 and a clear message', async () => {
    await db.run(['users', 'add', 'ann@example.com', '--password-stdin'], { stdin: PASSWORD });
    const again = await db.run(['users', 'add', 'ANN@example.com', '--password-stdin'], {
      stdin: `${PASSWORD}\n`,
    });
    expect(again).toEqual({
      code: 1,
      stdout: '',
      stderr: 'latchkey: a user with email ann@example.com exists already\n',
    });
  });

  it('refuses a short password, an invalid email, and a missing password', async () => {
    const short = await db.run(['users', 'add', 'bob@example.com', '--password-stdin'], { stdin: 'short\n' });
    expect(short).toEqual({
      code: 1,
      stdout: '',
      stderr: 'latchkey: password must be 8 to 1024 characters long\n',
    });
    const email = await db.run(['users', 'add', 'not-an-email', '--password-stdin'], {
      stdin: `${PASSWORD}\n`,
    });
    expect(email).toMatchObject({ code: 1, stderr: 'latchkey: email must be a valid email address\n' });
    // Refused before a password is asked for: here, none is given at all.
    const lookalike = await db.run(['users', 'add', '\uff41nn@example.com']);
    expect(lookalike).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'latchkey: email must not contain characters that Unicode normalization changes (such as fullwidth letters or ligatures)\n',
    });
    const empty = await db.run(['users', 'add', 'bob@example.com', '--password-stdin'], { stdin: '' });
    expect(empty).toMatchObject({ code: 1, stderr: 'latchkey: --password-stdin: standard input is empty\n' });
    // Not a terminal and no --password-stdin: a usage error, and nothing is read from argv.
    const none = await db.run(['users', 'add', 'bob@example.com']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^latchkey: no password: pipe it in with --password-stdin/);
    const argv = await db.run(['users', 'add', 'bob@example.com', '--password', PASSWORD]);
    expect(argv.code).toBe(2);
    expect(argv.stderr).toContain("unknown option '--password'");
    expect(argv.stderr).not.toContain('goes after "--"');
    expect((await db.run(['users', 'list'])).stdout).toBe('no users\n');
  });

  it('takes an email that starts with "-" after --, and says so when it was read as an option', async () => {
    const asOption = await db.run(['users', 'add', '-ann@example.com', '--password-stdin'], {
      stdin: `${PASSWORD}\n`,
    });
    expect(asOption.code).toBe(2);
    expect(asOption.stderr).toContain("unknown option '-ann@example.com'");
    expect(asOption.stderr).toContain(
      'latchkey: a value that starts with "-" (an email, a session or key id) goes after "--", ' +
        'with the options before it: latchkey users add --password-stdin -- -ann@example.com\n',
    );
    const disabling = await db.run(['users', 'disable', '-ann@example.com']);
    expect(disabling.stderr).toContain(
      'with the options before it: latchkey users disable -- -ann@example.com\n',
    );
    const added = await db.run(['users', 'add', '--password-stdin', '--', '-ann@example.com'], {
      stdin: `${PASSWORD}\n`,
    });
    expect(added.code, added.stderr).toBe(0);
    expect((await db.run(['users', 'list'])).stdout).toContain('-ann@example.com');
    const disabled = await db.run(['users', 'disable', '--', '-ann@example.com']);
    expect(disabled.code, disabled.stderr).toBe(0);
  });

  it('reads only the first line of stdin, without its line ending', async () => {
    await db.run(['users', 'add', 'ann@example.com', '--password-stdin'], {
      stdin: `${PASSWORD}\r\nsecond line\n`,
    });
    await db.withRuntime(async ({ service }) => {
      await expect(service.login('ann@example.com', PASSWORD, CLIENT)).resolves.toBeDefined();
    });
  });

  it('disables a user: their sessions are revoked and login fails; enable lets them in again', async () => {
    await db.run(['users', 'add', 'ann@example.com', '--password-stdin'], { stdin: PASSWORD });
    const tokens = await db.withRuntime(({ service }) => service.login('ann@example.com', PASSWORD, CLIENT));

    const disabled = await db.run(['users', 'disable', 'Ann@example.com']);
    expect(disabled).toEqual({
      code: 0,
      stdout: 'disabled ann@example.com; revoked 1 session\n',
      stderr: '',
    });
    expect((await db.run(['users', 'list'])).stdout).toMatch(/ann@example\.com +\S+ +since \d{4}-/);

    await db.withRuntime(async ({ service, store }) => {
      await expect(service.login('ann@example.com', PASSWORD, CLIENT)).rejects.toMatchObject({
        code: 'ERR_INVALID_CREDENTIALS',
      });
      await expect(service.refresh(tokens.refreshToken)).rejects.toMatchObject({ code: 'ERR_INVALID_GRANT' });
      expect((await store.findSession(tokens.sessionId))?.revokedReason).toBe('user_disabled');
    });

    const enabled = await db.run(['users', 'enable', 'ann@example.com']);
    expect(enabled).toEqual({ code: 0, stdout: 'enabled ann@example.com\n', stderr: '' });
    await db.withRuntime(async ({ service }) => {
      await expect(service.login('ann@example.com', PASSWORD, CLIENT)).resolves.toBeDefined();
    });
  });

  it('names an unknown email instead of printing a stack trace', async () => {
    await db.run(['migrate']);
    const result = await db.run(['users', 'disable', 'nobody@example.com']);
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: 'latchkey: no user with email nobody@example.com\n',
    });
  });
});
