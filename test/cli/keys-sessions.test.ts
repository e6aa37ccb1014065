import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.js';
import { loadConfig } from '../../src/server/config.js';
import { createRuntime } from '../../src/server/runtime.js';
import { FAST_ARGON2 } from '../support/app.js';
import { CLIENT, createTestDatabase, PASSWORD, runCLI, type TestDatabase } from './run-cli.js';

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
  // A server has started on the database: its first key exists (keys list itself never creates one).
  beforeEach(async () => {
    await db.withRuntime(async () => {});
  });

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
      // Published only until the tokens it signed have expired: lifetime + tolerance, not 30 days.
      const old = keys.list().find((key) => key.kid === oldKid);
      expect((old?.expiresAt ?? 0) - (old?.retiresAt ?? 0)).toBe((900 + 30) * 1000);
    });
  });

  it('revokes a key by kid and prints what happens and what to do next', async () => {
    const [[oldKid = ''] = []] = rows((await db.run(['keys', 'list'])).stdout);
    const result = await db.run(['keys', 'revoke', oldKid]);
    expect(result.code).toBe(0);
    const newKid = /^new signing key (\S+) signs from now on$/m.exec(result.stdout)?.[1];
    expect(result.stdout).toMatch(new RegExp(`^revoked signing key ${oldKid}\n`));
    expect(result.stdout).toContain('Sessions stay valid');
    expect(result.stdout).toContain('What to do next:');
    expect(
      rows((await db.run(['keys', 'list'])).stdout).map(([kid, , state, , , expires]) => [
        kid,
        state,
        expires,
      ]),
    ).toEqual([
      [oldKid, 'revoked', '-'],
      [newKid, 'active', expect.any(String)],
    ]);
    await db.withRuntime(async ({ keys }) => {
      expect(keys.signingKey.kid).toBe(newKid);
      expect(keys.verificationKeys.keys.map((key) => key.kid)).toEqual([newKid]);
    });
    expect(await db.run(['keys', 'revoke', oldKid])).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(new RegExp(`^signing key ${oldKid} was revoked already at `)),
    });
  });

  it('rotate --revoke revokes the active key, whatever its kid looks like', async () => {
    const [[oldKid = ''] = []] = rows((await db.run(['keys', 'list'])).stdout);
    const result = await db.run(['keys', 'rotate', '--revoke']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      new RegExp(`^revoked signing key ${oldKid}\nnew signing key [A-Za-z0-9_-]+ signs from now on\n`),
    );
  });

  it("leaves the servers' algorithm alone when its own LATCHKEY_ALG differs, and revokes their key", async () => {
    const server = await createRuntime(loadConfig({ ...db.env, LATCHKEY_ALG: 'EdDSA' }), {
      argon2: FAST_ARGON2,
      background: false,
    });
    try {
      const stolen = server.keys.signingKey.kid ?? '';
      expect(server.keys.signingKey.alg).toBe('EdDSA');
      // This shell has no LATCHKEY_ALG (ES256 by default).
      const listed = rows((await db.run(['keys', 'list'])).stdout);
      // The ES256 key of the first start, then the EdDSA key the server rotated to; nothing new.
      expect(listed.map(([, alg, state]) => [alg, state])).toEqual([
        ['ES256', 'retired'],
        ['EdDSA', 'active'],
      ]);
      expect(listed[1]?.[0]).toBe(stolen);
      const result = await db.run(['keys', 'rotate', '--revoke']);
      expect(result.stdout).toMatch(new RegExp(`^revoked signing key ${stolen}\n`));
      await server.keys.reload();
      expect(server.keys.verificationKeys.select('EdDSA', stolen)).toBeUndefined();
      expect(server.keys.signingKey.alg).toBe('EdDSA');
    } finally {
      await server.close();
    }
  });

  it('works in the kind of key the servers sign with: no key pair added to an HS256 store, and its secret revoked', async () => {
    // A database whose servers have only ever used HS256.
    const hmacOnly = await createTestDatabase();
    await hmacOnly.run(['migrate']);
    const server = await createRuntime(loadConfig({ ...hmacOnly.env, LATCHKEY_ALG: 'HS256' }), {
      argon2: FAST_ARGON2,
      background: false,
    });
    try {
      const listKinds = async () =>
        rows((await hmacOnly.run(['keys', 'list'])).stdout).map(([kid, alg, state]) => ({ kid, alg, state }));
      const before = await listKinds();
      // This shell has no LATCHKEY_ALG (ES256): twice, as an operator repeating a revocation would.
      for (let round = 0; round < 2; round++) {
        const stolen = server.keys.signingKey.kid ?? '';
        expect(server.keys.signingKey.alg).toBe('HS256');
        const result = await hmacOnly.run(['keys', 'rotate', '--revoke']);
        expect(result.stdout).toMatch(new RegExp(`^revoked signing key ${stolen}\n`));
        await server.keys.reload();
        expect(server.keys.signingKey.kid).not.toBe(stolen);
        expect(server.keys.signingKey.alg).toBe('HS256');
      }
      const after = await listKinds();
      // No key of this shell's kind was added: the store holds secrets only.
      expect(before.map(({ alg }) => alg)).toEqual(['HS256']);
      expect(new Set(after.map(({ alg }) => alg))).toEqual(new Set(['HS256']));
    } finally {
      await server.close();
      await hmacOnly.remove();
    }
  });

  it('rotate --revoke refuses to guess when a secret and a key pair are both active, and revokes nothing', async () => {
    // The first start made an ES256 key; a server now configured for HS256 makes an active secret
    // beside it (each kind has its own succession).
    const server = await createRuntime(loadConfig({ ...db.env, LATCHKEY_ALG: 'HS256' }), {
      argon2: FAST_ARGON2,
      background: false,
    });
    try {
      const before = (await db.run(['keys', 'list'])).stdout;
      const active = rows(before).filter(([, , state]) => state === 'active');
      expect(active.map(([, alg]) => alg).sort()).toEqual(['ES256', 'HS256']);
      const result = await db.run(['keys', 'rotate', '--revoke'], { now: () => Date.now() });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/more than one key is active: .*ES256.*HS256|HS256.*ES256/);
      expect(result.stderr).toContain('latchkey keys revoke KID');
      const unchanged = rows((await db.run(['keys', 'list'])).stdout);
      expect(unchanged.map(([kid, , state]) => [kid, state])).toEqual(
        rows(before).map(([kid, , state]) => [kid, state]),
      );
    } finally {
      await server.close();
    }
  });

  it('refuses to write a key the servers could not read (another master key setting), changing nothing', async () => {
    const [[kid = ''] = []] = rows((await db.run(['keys', 'list'])).stdout);
    let stderr = '';
    const io = {
      stdout: () => {},
      stderr: (text: string) => {
        stderr += text;
      },
      env: { ...db.env, LATCHKEY_MASTER_KEY: 'a'.repeat(64) },
    };
    expect(await buildProgram(io, { argon2: FAST_ARGON2 }).run(['keys', 'revoke', kid])).toBe(1);
    expect(stderr).toMatch(/LATCHKEY_MASTER_KEY is set here, but the keys in the database are not encrypted/);
    const listed = rows((await db.run(['keys', 'list'])).stdout);
    expect(listed.map(([listedKid, , state]) => [listedKid, state])).toEqual([[kid, 'active']]);
  });

  it('names an unknown kid (exit 1), even one that looks like an option', async () => {
    for (const kid of ['nope', '-AbC_dEf', '--not-an-option']) {
      expect(await db.run(['keys', 'revoke', kid])).toEqual({
        code: 1,
        stdout: '',
        stderr: `latchkey: no signing key with kid ${kid}\n`,
      });
    }
    expect((await db.run(['keys', 'revoke'])).code).toBe(2);
  });
});

describe('read-only commands', () => {
  it('keys list and token inspect leave the database byte for byte as it was', async () => {
    const file = db.env.DATABASE_URL?.replace(/^sqlite:/, '') ?? '';
    // A database with no key at all: a command that ran the servers' maintenance would create one.
    const before = createHash('sha256')
      .update(await readFile(file))
      .digest('hex');
    const listed = await db.run(['keys', 'list']);
    expect(listed).toEqual({ code: 0, stdout: 'KID  ALG  STATE  ACTIVATES  RETIRES  EXPIRES\n', stderr: '' });
    const inspected = await db.run(['token', 'inspect', 'eyJhbGciOiJFUzI1NiJ9.e30.c2ln']);
    expect(inspected.stdout).toContain(
      'issuer http://localhost:3000 (default); audience http://localhost:3000 (default); clock tolerance 30 s (default)',
    );
    expect(
      createHash('sha256')
        .update(await readFile(file))
        .digest('hex'),
    ).toBe(before);
  });
});

describe('commands on a database that is not there', () => {
  /** Every command but `migrate` and `users add`, which create the database as a server start does. */
  const COMMANDS = [
    ['users', 'list'],
    ['users', 'disable', 'ann@example.com'],
    ['users', 'roles', 'ann@example.com'],
    ['users', 'roles', 'ann@example.com', 'add', 'admin'],
    ['sessions', 'list', 'ann@example.com'],
    ['sessions', 'revoke', '--user', 'ann@example.com'],
    ['keys', 'list'],
    ['keys', 'rotate'],
    ['keys', 'revoke', 'kid'],
    ['keys', 'reseal'],
    ['token', 'inspect', 'eyJhbGciOiJFUzI1NiJ9.e30.c2ln'],
  ];

  it('refuse a missing database (a mistyped data dir) and create nothing', async () => {
    const missing = join(await mkdtemp(join(tmpdir(), 'latchkey-missing-')), 'no', 'such');
    const env = { DATABASE_URL: `sqlite:${join(missing, 'latchkey.sqlite')}` };
    try {
      for (const args of COMMANDS) {
        const result = await runCLI(args, env);
        expect(result, args.join(' ')).toEqual({
          code: 1,
          stdout: '',
          stderr:
            `latchkey: ${join(missing, 'latchkey.sqlite')} holds no Latchkey database: start the server ` +
            'or run `latchkey migrate` to create one (ERR_STORE_DATABASE_MISSING)\n',
        });
        expect(existsSync(join(missing, '..')), args.join(' ')).toBe(false);
      }
    } finally {
      await rm(join(missing, '../..'), { recursive: true, force: true });
    }
  });

  it('refuse a schema older than theirs, change nothing, and work once it is migrated', async () => {
    const file = db.env.DATABASE_URL?.replace(/^sqlite:/, '') ?? '';
    // The schema of the version before the live-sessions index: its last migration undone, index and record.
    const raw = new BetterSqlite3(file);
    raw.exec(
      'DROP INDEX sessions_live_user_idx; ' +
        "DELETE FROM kysely_migration WHERE name = '0005_live_sessions_index'",
    );
    raw.close();
    const before = createHash('sha256')
      .update(await readFile(file))
      .digest('hex');
    for (const args of COMMANDS) {
      const result = await db.run(args);
      expect(result, args.join(' ')).toEqual({
        code: 1,
        stdout: '',
        stderr:
          `latchkey: ${file} lacks migration 0005_live_sessions_index: start the server of this version or run ` +
          '`latchkey migrate` first (ERR_STORE_SCHEMA_OUTDATED)\n',
      });
    }
    expect(
      createHash('sha256')
        .update(await readFile(file))
        .digest('hex'),
    ).toBe(before);
    expect((await db.run(['migrate'])).stdout).toContain('applied migration 0005_live_sessions_index');
    expect(await db.run(['users', 'list'])).toEqual({ code: 0, stdout: 'no users\n', stderr: '' });
  });
});

describe('commands on a database another version or program made', () => {
  it('refuse a schema a newer version made, and change nothing', async () => {
    const file = db.env.DATABASE_URL?.replace(/^sqlite:/, '') ?? '';
    const raw = new BetterSqlite3(file);
    raw
      .prepare('INSERT INTO kysely_migration (name, timestamp) VALUES (?, ?)')
      .run('9999_from_the_future', new Date().toISOString());
    raw.close();
    const before = await readFile(file);
    expect(await db.run(['users', 'list'])).toEqual({
      code: 1,
      stdout: '',
      stderr:
        `latchkey: ${file} has migration 9999_from_the_future, which this version of Latchkey does not ` +
        'know: a newer version made it; use that one (ERR_STORE_SCHEMA_OUTDATED)\n',
    });
    expect((await readFile(file)).equals(before)).toBe(true);
  });

  it("leave another program's SQLite file, or an empty one, exactly as it was", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'latchkey-other-'));
    try {
      const other = join(dir, 'other.sqlite');
      const raw = new BetterSqlite3(other);
      raw.exec('CREATE TABLE notes (text TEXT)');
      raw.close();
      const empty = join(dir, 'empty.sqlite');
      await writeFile(empty, '');
      for (const file of [other, empty]) {
        const before = await readFile(file);
        expect(await runCLI(['keys', 'list'], { DATABASE_URL: `sqlite:${file}` })).toEqual({
          code: 1,
          stdout: '',
          stderr: `latchkey: ${file} holds no Latchkey database: start the server or run \`latchkey migrate\` to create one (ERR_STORE_DATABASE_MISSING)\n`,
        });
        // Still in its own journal mode, not switched to WAL; the empty file still empty.
        expect((await readFile(file)).equals(before)).toBe(true);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('name a directory where the database should be as no database', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'latchkey-dir-'));
    try {
      const result = await runCLI(['migrate'], { DATABASE_URL: `sqlite:${dir}` });
      expect(result).toEqual({
        code: 1,
        stdout: '',
        stderr: `latchkey: ${dir} is not a SQLite database, or a part of its path is a file, not a directory (EISDIR) (ERR_STORE_DATABASE_MISSING)\n`,
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('latchkey sessions list', () => {
  beforeEach(async () => {
    await db.run(['users', 'add', 'ann@example.com', '--password-stdin'], { stdin: PASSWORD });
  });

  it("lists a user's live sessions, newest first, and leaves out the revoked ones", async () => {
    const [first, second, third] = await db.withRuntime(async ({ service }) => {
      const logins = [];
      for (const userAgent of ['first agent', 'second\nagent', 'third agent']) {
        logins.push(await service.login('ann@example.com', PASSWORD, { ...CLIENT, userAgent }));
        // Each its own millisecond, so that newest first is one order.
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      return logins;
    });
    if (first === undefined || second === undefined || third === undefined)
      throw new Error('three logins expected');
    expect((await db.run(['sessions', 'revoke', second.sessionId])).code).toBe(0);

    const result = await db.run(['sessions', 'list', 'ANN@example.com']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const [header] = result.stdout.split('\n');
    expect(header?.split(/ {2,}/)).toEqual(['ID', 'CREATED', 'LAST USED', 'ENDS', 'IP', 'USER AGENT']);
    const listed = rows(result.stdout);
    expect(listed.map((row) => [row[0], row[4], row[5]])).toEqual([
      [third.sessionId, '127.0.0.1', 'third agent'],
      [first.sessionId, '127.0.0.1', 'first agent'],
    ]);
    for (const row of listed) {
      for (const time of row.slice(1, 4)) expect(time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    }

    // A user agent is the client's to choose: a newline in it stays in its cell.
    await db.withRuntime(({ service }) =>
      service.login('ann@example.com', PASSWORD, { ...CLIENT, userAgent: 'evil\nFAKE  row' }),
    );
    const crafted = await db.run(['sessions', 'list', 'ann@example.com']);
    expect(crafted.stdout.trimEnd().split('\n')).toHaveLength(4);
    expect(crafted.stdout).toContain('evil\\u{a}FAKE  row');
  });

  it('says when a user has no live session, and names an unknown user (exit 1)', async () => {
    expect(await db.run(['sessions', 'list', 'ann@example.com'])).toEqual({
      code: 0,
      stdout: 'no live sessions of ann@example.com\n',
      stderr: '',
    });
    expect(await db.run(['sessions', 'list', 'bob@example.com'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'latchkey: no user with email bob@example.com\n',
    });
    expect((await db.run(['sessions', 'list'])).code).toBe(2);
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

  it('revokes a session whose id starts with "-" (one in 64 do)', async () => {
    const login = await db.withRuntime(({ service }) => service.login('ann@example.com', PASSWORD, CLIENT));
    const id = `-${'x'.repeat(42)}`;
    await db.withRuntime(async ({ store }) => {
      const session = await store.findSession(login.sessionId);
      if (session === null) throw new Error('session expected');
      await store.createSession({ ...session, id }, 'a-hash-nobody-holds');
    });
    const result = await db.run(['sessions', 'revoke', id]);
    expect(result).toEqual({ code: 0, stdout: `revoked session ${id} of ann@example.com\n`, stderr: '' });
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

  it('refuses a malformed REDIS_URL before it revokes anything (exit 2)', async () => {
    const login = await db.withRuntime(({ service }) => service.login('ann@example.com', PASSWORD, CLIENT));
    const result = await runCLI(['sessions', 'revoke', '--user', 'ann@example.com'], {
      ...db.env,
      REDIS_URL: 'redis://127.0.0.1:notaport',
    });
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toMatch(/^latchkey: invalid configuration: REDIS_URL: is not a valid URL/);
    await db.withRuntime(async ({ store }) => {
      expect((await store.findSession(login.sessionId))?.revokedAt).toBeNull();
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
