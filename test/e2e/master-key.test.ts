/**
 * A master key that does not open the stored signing keys: the server refuses to start, says which
 * setting is wrong, and leaves the keys as they are (it neither serves 500s for every login nor makes
 * a new key that the instances with the right master key would not read).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, SERVER_MAIN, startLatchkeyProcess } from '../support/server-process.js';
import { cleanEnv } from './support.js';

const masterKey = () => randomBytes(32).toString('base64url');
const directories: string[] = [];

afterAll(async () => {
  await Promise.all(directories.map((dir) => rm(dir, { recursive: true, force: true })));
});

function storedKeys(dataDir: string): unknown[] {
  const database = new Database(join(dataDir, 'latchkey.sqlite'), { readonly: true });
  try {
    return database.prepare('select kid, private_key, revoked_at from signing_keys order by kid').all();
  } finally {
    database.close();
  }
}

describe('a wrong LATCHKEY_MASTER_KEY', () => {
  it('stops the server at start with one line and exit code 2, and changes no key', async () => {
    const first = await startLatchkeyProcess({ env: { LATCHKEY_MASTER_KEY: masterKey() } });
    const { dataDir } = first;
    directories.push(dataDir);
    await first.kill('SIGTERM');
    const before = storedKeys(dataDir);
    expect(before.length).toBeGreaterThan(0);
    const kids = (before as { kid: string }[]).map(({ kid }) => kid);

    const failure = await promisify(execFile)(process.execPath, [SERVER_MAIN], {
      cwd: ROOT,
      env: { ...cleanEnv(), PORT: '0', LATCHKEY_DATA_DIR: dataDir, LATCHKEY_MASTER_KEY: masterKey() },
      timeout: 20_000,
    }).catch((error: { code: number; stdout: string; stderr: string }) => error);
    expect(failure).toMatchObject({
      code: 2,
      stderr:
        `latchkey: invalid configuration: LATCHKEY_MASTER_KEY: does not decrypt the stored signing keys ` +
        `(${kids.join(', ')}): start with the master key they were stored with\n`,
    });
    expect(storedKeys(dataDir)).toEqual(before);
  }, 60_000);
});
