/**
 * Changing LATCHKEY_MASTER_KEY: with the new key and LATCHKEY_MASTER_KEY_PREVIOUS, servers read keys
 * sealed with either and seal new ones with the new key; `latchkey keys reseal` moves every stored key
 * to the new one, after which the previous key is no longer needed, and no longer opens anything.
 */
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSealed, isSealedWith, sealPrivateKey } from '../../src/auth/key-encryption.js';
import { ConfigError, loadConfig } from '../../src/server/config.js';
import { REFRESH_SECRET } from '../../src/server/runtime.js';
import { openStore } from '../../src/store/open.js';
import { CLIENT, createTestDatabase, PASSWORD, runCLI, type TestDatabase, withRuntimeOn } from './run-cli.js';

const OLD = '1'.repeat(64);
const NEW = '2'.repeat(64);
const OTHER = '3'.repeat(64);
const keyOf = (hex: string) => Buffer.from(hex, 'hex');

let db: TestDatabase;
beforeEach(async () => {
  db = await createTestDatabase({ LATCHKEY_MASTER_KEY: OLD });
});
afterEach(async () => db.remove());

/** The test database's environment with these settings instead. */
function envWith(changes: Record<string, string>): Record<string, string> {
  return { ...db.env, ...changes };
}

/** 'old', 'new', 'plain' or 'other': which master key sealed `stored` (under associated data `aad`). */
const sealedBy = (aad: string, stored: string) =>
  !isSealed(stored)
    ? 'plain'
    : isSealedWith(keyOf(OLD), aad, stored)
      ? 'old'
      : isSealedWith(keyOf(NEW), aad, stored)
        ? 'new'
        : 'other';

/** How each stored private key is sealed, by kid. */
async function sealing(env: Record<string, string>): Promise<Record<string, string>> {
  const store = await openStore(loadConfig(env).database);
  try {
    const sealed: Record<string, string> = {};
    for (const record of await store.listSigningKeys()) {
      sealed[record.kid] = sealedBy(record.kid, record.privateKey);
    }
    return sealed;
  } finally {
    await store.close();
  }
}

/** The names in the secrets table, read without creating any. */
function storedSecrets(env: Record<string, string>): string[] {
  const database = loadConfig(env).database;
  if (database.kind !== 'sqlite') throw new Error('a SQLite test database expected');
  const raw = new BetterSqlite3(database.path, { readonly: true });
  try {
    return (raw.prepare('select name from secrets order by name').all() as { name: string }[]).map(
      ({ name }) => name,
    );
  } finally {
    raw.close();
  }
}

/** How the stored refresh-token secret is sealed (a server start has made it). */
async function secretSealing(env: Record<string, string>): Promise<string> {
  const store = await openStore(loadConfig(env).database);
  try {
    const stored = await store.ensureSecret(REFRESH_SECRET.name, 'none stored');
    return sealedBy(`secret:${REFRESH_SECRET.name}`, stored);
  } finally {
    await store.close();
  }
}

describe('changing LATCHKEY_MASTER_KEY', () => {
  it('reads keys of either master key during the change, reseals them all, then needs only the new one', async () => {
    const email = 'ann@example.com';
    expect((await db.run(['users', 'add', email, '--password-stdin'], { stdin: `${PASSWORD}\n` })).code).toBe(
      0,
    );
    const issued = await db.withRuntime(({ service }) => service.login(email, PASSWORD, CLIENT));
    const [oldKid = ''] = Object.keys(await sealing(db.env));
    expect(oldKid).not.toBe('');
    expect(await sealing(db.env)).toEqual({ [oldKid]: 'old' });
    expect(await secretSealing(db.env)).toBe('old');

    // The new key alone opens nothing that is stored: the start is refused, as before.
    await expect(withRuntimeOn(envWith({ LATCHKEY_MASTER_KEY: NEW }), async () => {})).rejects.toThrow(
      ConfigError,
    );

    const changing = envWith({ LATCHKEY_MASTER_KEY: NEW, LATCHKEY_MASTER_KEY_PREVIOUS: OLD });
    const rotated = await runCLI(['keys', 'rotate', '--now'], changing);
    expect(rotated.code, rotated.stderr).toBe(0);
    const newKid = rotated.stdout.trim();
    // Tokens of the old key verify; the key made during the change is sealed with the new master key.
    await withRuntimeOn(changing, async ({ service }) => {
      expect(service.authenticate(issued.accessToken).sessionId).toBe(issued.sessionId);
    });
    expect(await sealing(db.env)).toEqual({ [oldKid]: 'old', [newKid]: 'new' });

    const resealed = await runCLI(['keys', 'reseal'], changing);
    expect(resealed).toEqual({
      code: 0,
      stdout:
        `resealed ${oldKid}\n${newKid} is sealed with LATCHKEY_MASTER_KEY already\n` +
        'resealed the refresh-token secret\n',
      stderr:
        'every stored key and secret is sealed with LATCHKEY_MASTER_KEY: LATCHKEY_MASTER_KEY_PREVIOUS can go\n' +
        'every server must now start with this LATCHKEY_MASTER_KEY; one started without it cannot open them\n',
    });
    expect(await sealing(db.env)).toEqual({ [oldKid]: 'new', [newKid]: 'new' });
    expect(await secretSealing(db.env)).toBe('new');
    expect((await runCLI(['keys', 'reseal'], changing)).stderr).toBe('nothing to reseal\n');

    // Now the new key alone is enough: the old token verifies and the session refreshes.
    await withRuntimeOn(envWith({ LATCHKEY_MASTER_KEY: NEW }), async ({ service }) => {
      expect(service.authenticate(issued.accessToken).sessionId).toBe(issued.sessionId);
      const refreshed = await service.refresh(issued.refreshToken);
      expect(service.authenticate(refreshed.accessToken).sessionId).toBe(issued.sessionId);
    });
    // And the old master key opens nothing any more: a leaked copy of it is of no use from here on.
    await expect(withRuntimeOn(envWith({ LATCHKEY_MASTER_KEY: OLD }), async () => {})).rejects.toThrow(
      'does not decrypt the stored signing keys',
    );
    // Without any master key the message says that one is missing, not that the one given is wrong.
    const { LATCHKEY_MASTER_KEY: _set, ...withoutKey } = envWith({});
    await expect(withRuntimeOn(withoutKey, async () => {})).rejects.toThrow(
      /^LATCHKEY_MASTER_KEY: is not set, and the stored signing keys \(.+\) are encrypted: start with the master key they were stored with$/,
    );
  });

  it('seals keys stored unencrypted when a master key is set for the first time', async () => {
    const fresh = await createTestDatabase();
    try {
      expect((await fresh.run(['migrate'])).code).toBe(0);
      expect((await fresh.run(['keys', 'rotate', '--now'])).code).toBe(0);
      expect(Object.values(await sealing(fresh.env))).toEqual(['plain', 'plain']);
      // The command line makes no refresh secret (one sealed with its master key could be one the
      // servers cannot open); a server start does.
      expect(storedSecrets(fresh.env)).toEqual([]);
      await withRuntimeOn(fresh.env, async () => {});
      expect(storedSecrets(fresh.env)).toEqual([REFRESH_SECRET.name]);
      const withKey = { ...fresh.env, LATCHKEY_MASTER_KEY: NEW };
      // Until it is resealed, a server with the master key reads the secret and says what to do.
      await withRuntimeOn(withKey, async ({ warnings }) => {
        expect(warnings).toEqual([
          'the refresh-token secret is stored unencrypted although LATCHKEY_MASTER_KEY is set: run `latchkey keys reseal` once',
        ]);
      });
      const sealedNow = await fresh.run(['keys', 'reseal']);
      expect(sealedNow.code).toBe(1);
      expect(sealedNow.stderr).toBe(
        'latchkey: LATCHKEY_MASTER_KEY is not set: there is nothing to seal with\n',
      );
      const resealed = await runCLI(['keys', 'reseal'], withKey);
      expect(resealed.code, resealed.stderr).toBe(0);
      expect(resealed.stdout.match(/^resealed [\w-]+$/gm)).toHaveLength(2);
      expect(resealed.stdout).toContain('\nresealed the refresh-token secret\n');
      // No previous master key was set, so none is said to be done with.
      expect(resealed.stderr).toBe(
        'every stored key and secret is sealed with LATCHKEY_MASTER_KEY\n' +
          'every server must now start with this LATCHKEY_MASTER_KEY; one started without it cannot open them\n',
      );
      expect(Object.values(await sealing(fresh.env))).toEqual(['new', 'new']);
      expect(await secretSealing(fresh.env)).toBe('new');
      await withRuntimeOn(withKey, async ({ warnings }) => expect(warnings).toEqual([]));
      // The servers need the master key from now on.
      const keysList = await runCLI(['keys', 'list'], fresh.env);
      expect(keysList.code).toBe(0);
      expect((await runCLI(['keys', 'rotate'], fresh.env)).stderr).toMatch(
        /the keys in the database are encrypted, but LATCHKEY_MASTER_KEY is not set here/,
      );
    } finally {
      await fresh.remove();
    }
  });

  it('refuses to start a server whose master key does not open the refresh secret; the CLI still revokes', async () => {
    const fresh = await createTestDatabase();
    try {
      // Keys and secret made unsealed; then the secret alone sealed with OLD, as a partial reseal would leave it.
      await withRuntimeOn(fresh.env, async () => {});
      const store = await openStore(loadConfig(fresh.env).database);
      try {
        const plain = await store.ensureSecret(REFRESH_SECRET.name, 'unused');
        const sealed = sealPrivateKey(keyOf(OLD), `secret:${REFRESH_SECRET.name}`, plain);
        expect(await store.replaceSecret(REFRESH_SECRET.name, plain, sealed)).toBe(true);
      } finally {
        await store.close();
      }
      await expect(withRuntimeOn(fresh.env, async () => {})).rejects.toThrow(
        new ConfigError(
          'LATCHKEY_MASTER_KEY',
          'the stored refresh-token-successor secret is encrypted, but LATCHKEY_MASTER_KEY is not set',
        ),
      );
      await expect(withRuntimeOn({ ...fresh.env, LATCHKEY_MASTER_KEY: NEW }, async () => {})).rejects.toThrow(
        'the stored refresh-token-successor secret cannot be decrypted: is LATCHKEY_MASTER_KEY the key it was stored with?',
      );
      // A compromised key is revoked without the master key at hand: the CLI never refreshes.
      const [kid = ''] = Object.keys(await sealing(fresh.env));
      const revoked = await fresh.run(['keys', 'revoke', kid]);
      expect(revoked.code, revoked.stderr).toBe(0);
      // With the key it was sealed with, the secret opens and sessions refresh.
      const withOld = { ...fresh.env, LATCHKEY_MASTER_KEY: OLD };
      expect(
        (await runCLI(['users', 'add', 'bo@example.com', '--password-stdin'], withOld, { stdin: PASSWORD }))
          .code,
      ).toBe(0);
      await withRuntimeOn(withOld, async ({ service }) => {
        const login = await service.login('bo@example.com', PASSWORD, CLIENT);
        await expect(service.refresh(login.refreshToken)).resolves.toBeDefined();
      });
    } finally {
      await fresh.remove();
    }
  });

  it('leaves a key neither master key opens as it is, names it, and exits 1', async () => {
    await withRuntimeOn(db.env, async () => {});
    const [kid = ''] = Object.keys(await sealing(db.env));
    expect(kid).not.toBe('');
    const result = await runCLI(
      ['keys', 'reseal'],
      envWith({ LATCHKEY_MASTER_KEY: NEW, LATCHKEY_MASTER_KEY_PREVIOUS: OTHER }),
    );
    // Nothing resealed, nothing printed: not even an empty line.
    expect(result).toMatchObject({ code: 1, stdout: '' });
    expect(result.stderr).toBe(
      `latchkey: not resealed, as neither master key opens them: ${kid} (signing key ${kid} cannot be ` +
        'decrypted with LATCHKEY_MASTER_KEY nor with LATCHKEY_MASTER_KEY_PREVIOUS); the refresh-token ' +
        'secret (the stored refresh-token-successor secret cannot be decrypted with LATCHKEY_MASTER_KEY ' +
        'nor with LATCHKEY_MASTER_KEY_PREVIOUS)\n',
    );
    expect(await sealing(db.env)).toEqual({ [kid]: 'old' });
    expect(await secretSealing(db.env)).toBe('old');
  });

  it.each([
    [{ LATCHKEY_MASTER_KEY_PREVIOUS: OLD }, 'needs LATCHKEY_MASTER_KEY, the key that replaces it'],
    [
      { LATCHKEY_MASTER_KEY: OLD, LATCHKEY_MASTER_KEY_PREVIOUS: OLD },
      'is the same key as LATCHKEY_MASTER_KEY',
    ],
    [
      { LATCHKEY_MASTER_KEY: OLD, LATCHKEY_MASTER_KEY_PREVIOUS: 'short' },
      'must be 32 random bytes as 64 hex digits or base64 (openssl rand -hex 32)',
    ],
  ])('refuses %j with the variable named', (env, message) => {
    let error: unknown;
    try {
      loadConfig(env);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(`LATCHKEY_MASTER_KEY_PREVIOUS: ${message}`);
  });
});
