/**
 * Changing LATCHKEY_MASTER_KEY: with the new key and LATCHKEY_MASTER_KEY_PREVIOUS, servers read keys
 * sealed with either and seal new ones with the new key; `latchkey keys reseal` moves every stored key
 * to the new one, after which the previous key is no longer needed, and no longer opens anything.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSealed, isSealedWith } from '../../src/auth/key-encryption.js';
import { ConfigError, loadConfig } from '../../src/server/config.js';
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

/** How each stored private key is sealed: 'old', 'new', 'plain' or 'other'. */
async function sealing(env: Record<string, string>): Promise<Record<string, string>> {
  const store = await openStore(loadConfig(env).database);
  try {
    const sealed: Record<string, string> = {};
    for (const record of await store.listSigningKeys()) {
      sealed[record.kid] = !isSealed(record.privateKey)
        ? 'plain'
        : isSealedWith(keyOf(OLD), record.kid, record.privateKey)
          ? 'old'
          : isSealedWith(keyOf(NEW), record.kid, record.privateKey)
            ? 'new'
            : 'other';
    }
    return sealed;
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
      stdout: `resealed ${oldKid}\n${newKid} is sealed with LATCHKEY_MASTER_KEY already\n`,
      stderr: 'every stored key is sealed with LATCHKEY_MASTER_KEY: LATCHKEY_MASTER_KEY_PREVIOUS can go\n',
    });
    expect(await sealing(db.env)).toEqual({ [oldKid]: 'new', [newKid]: 'new' });
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
  });

  it('seals keys stored unencrypted when a master key is set for the first time', async () => {
    const fresh = await createTestDatabase();
    try {
      expect((await fresh.run(['migrate'])).code).toBe(0);
      expect((await fresh.run(['keys', 'rotate', '--now'])).code).toBe(0);
      expect(Object.values(await sealing(fresh.env))).toEqual(['plain', 'plain']);
      const sealedNow = await fresh.run(['keys', 'reseal']);
      expect(sealedNow.code).toBe(1);
      expect(sealedNow.stderr).toBe(
        'latchkey: LATCHKEY_MASTER_KEY is not set: there is nothing to seal with\n',
      );
      const withKey = { ...fresh.env, LATCHKEY_MASTER_KEY: NEW };
      const resealed = await runCLI(['keys', 'reseal'], withKey);
      expect(resealed.code, resealed.stderr).toBe(0);
      expect(resealed.stdout.match(/^resealed /gm)).toHaveLength(2);
      expect(Object.values(await sealing(fresh.env))).toEqual(['new', 'new']);
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

  it('leaves a key neither master key opens as it is, names it, and exits 1', async () => {
    await withRuntimeOn(db.env, async () => {});
    const [kid = ''] = Object.keys(await sealing(db.env));
    expect(kid).not.toBe('');
    const result = await runCLI(
      ['keys', 'reseal'],
      envWith({ LATCHKEY_MASTER_KEY: NEW, LATCHKEY_MASTER_KEY_PREVIOUS: OTHER }),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `latchkey: not resealed, as neither master key opens them: ${kid} (signing key ${kid} cannot be ` +
        'decrypted with LATCHKEY_MASTER_KEY nor with LATCHKEY_MASTER_KEY_PREVIOUS)\n',
    );
    expect(await sealing(db.env)).toEqual({ [kid]: 'old' });
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
